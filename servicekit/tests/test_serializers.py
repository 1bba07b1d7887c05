"""Serializers whose fields are built once (servicekit.api.FieldsBuiltOnce)."""

import threading

import pytest
from widgets.apis import WidgetSerializer


def test_each_instance_validates_alone_with_the_fields_bound_to_it():
    first, second = WidgetSerializer(data={"title": "one"}), WidgetSerializer(data={"title": "x" * 101})
    assert first.is_valid() and not second.is_valid()
    assert first.validated_data == {"title": "one"} and "title" in second.errors
    assert all(field.parent is second for field in second.fields.values())
    assert second.fields is WidgetSerializer(data={}).fields  # built once, taken over


def test_a_thread_builds_its_own():
    here = WidgetSerializer(data={}).fields
    there = []
    thread = threading.Thread(target=lambda: there.append(WidgetSerializer(data={}).fields))
    thread.start()
    thread.join()
    assert there[0] is not here


@pytest.mark.parametrize("title", ["", "   ", None])
def test_errors_do_not_leak_into_the_next_instance(title):
    assert not WidgetSerializer(data={"title": title}).is_valid()
    assert WidgetSerializer(data={"title": "fine"}).is_valid()


@pytest.mark.django_db
def test_objects_and_rows_are_shown_exactly_as_drf_shows_them(make_widgets):
    from rest_framework import serializers
    from widgets.models import Widget

    [widget] = make_widgets(1, title="  spaced  é ")
    row = Widget.objects.values(*WidgetSerializer.Meta.fields).get(id=widget.id)
    drf = serializers.ModelSerializer.to_representation(WidgetSerializer(widget), widget)
    assert WidgetSerializer(widget).data == drf == WidgetSerializer(row).data
    assert drf["created_at"].endswith("Z") and drf["id"] == str(widget.id)
