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
