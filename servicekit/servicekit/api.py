"""DRF building blocks shared by the services: caller identity, owned CRUD, strict text fields."""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Model, QuerySet
from django.utils.functional import cached_property
from rest_framework import ISO_8601, serializers, viewsets
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer
from rest_framework.settings import api_settings
from rest_framework.utils.serializer_helpers import BindingDict


def caller_id(request: Request) -> uuid.UUID:
    """The authenticated caller's user id (the token's ``user_id`` claim, a UUID:
    ``servicekit.tokens`` refuses a token with anything else)."""
    return uuid.UUID(str(request.user.id))


@dataclass(frozen=True)
class ResourceServices:
    """The write functions of one resource, as :class:`OwnedResourceViewSet` calls them.

    ``create(*, user_id, **fields)``, ``update(*, <name>=obj, **fields)`` and
    ``delete(*, <name>=obj)``, where ``name`` is the resource's keyword (``post``).
    """

    name: str
    create: Callable[..., Model]
    update: Callable[..., Model]
    delete: Callable[..., None]


class OwnedResourceViewSet(viewsets.ModelViewSet):
    """CRUD on the caller's own objects; anyone else's are simply not found (404).

    Subclasses set ``serializer_class``, ``selector`` (``staticmethod``: ``user_id ->``
    QuerySet of that user's objects) and ``services``. Every write goes through
    ``services`` so that a resource's side effects (its outbox events) live in one place.
    """

    selector: Callable[..., QuerySet]
    services: ResourceServices
    # A malformed id never matches the route: 404 before any query, never a 500.
    lookup_value_converter = "uuid"
    search_fields = ("title",)
    ordering_fields = ("created_at", "updated_at", "title")
    ordering = ("-created_at", "-id")

    def get_queryset(self) -> QuerySet:
        objects = self.selector(user_id=caller_id(self.request))
        if self.action == "list":
            # A page is only read and shown: plain rows, not model instances (the serializer
            # reads either), about a third of a list's time spent building them.
            return objects.values(*self.get_serializer_class().Meta.fields)
        return objects

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = self.services.create(user_id=caller_id(self.request), **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer) -> None:
        target = {self.services.name: serializer.instance}
        serializer.instance = self.services.update(**target, **serializer.validated_data)

    def perform_destroy(self, instance: Model) -> None:
        self.services.delete(**{self.services.name: instance})


SURROGATES = re.compile("[\ud800-\udfff]")


class StringOnly:
    """Text as JSON strings only, and only text that can be stored.

    Anything but a string is refused (DRF would quietly turn ``5`` into ``"5"``), and so
    are NUL characters (PostgreSQL cannot store them) and unpaired surrogates (JSON lets
    ``"\\ud800"`` through, but it is no Unicode and has no UTF-8 encoding). Both are
    checked before any validator sees the value, so none of them can trip over it with a
    500. The schema says the same (``servicekit.openapi``).
    """

    #: Added to the field's request schema last (``servicekit.openapi.AutoSchema``).
    input_schema: dict[str, Any] = {}

    default_error_messages = {
        "not_a_string": "Not a valid string.",
        "null_characters": "Null characters are not allowed.",
        "surrogates": "Unpaired surrogates are not allowed: the text must be valid Unicode.",
    }

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("not_a_string")
        if "\x00" in data:
            self.fail("null_characters")
        if SURROGATES.search(data):
            self.fail("surrogates")
        return super().to_internal_value(data)


class StrictCharField(StringOnly, serializers.CharField):
    pass


class StrictEmailField(StringOnly, serializers.EmailField):
    pass


class FieldsBuiltOnce:
    """A serializer whose fields are built once per class (and thread), not per instance,
    and that shows plain values without going through every field's machinery.

    DRF builds a serializer's fields anew for every instance (a ModelSerializer from its
    model, each time); for an API call that validates one body and renders one object,
    that was most of the time spent in DRF. Here the first instance's fields are kept and
    every later instance of the class takes them over, bound to itself. Safe for
    serializers that do not change their fields per instance (none here does); per thread,
    so that a threaded server never shares them between requests in flight.

    Showing an object (``to_representation``), a field whose output is a plain
    conversion of its value (text, a UUID, a UTC datetime, a number) is converted directly,
    from a model instance or from a row of ``QuerySet.values()``; any other field (nested,
    dotted source, a method) is asked as DRF would. The output is the same.
    """

    _built = threading.local()

    @cached_property
    def fields(self) -> BindingDict:
        cache = self._built.__dict__.setdefault("fields", {})
        fields = cache.get(type(self))
        if fields is None:
            fields = cache[type(self)] = super().fields
        else:
            fields.serializer = self
            for field in fields.values():
                field.parent = self
        return fields

    def to_representation(self, instance: Any) -> dict[str, Any]:
        plan = self._built.__dict__.setdefault("plans", {}).get(type(self))
        if plan is None:
            plan = self._built.plans[type(self)] = [
                (name, field.source, _plain_conversion(field), field) for name, field in self.fields.items()
                if not field.write_only
            ]  # fmt: skip
        mapping = isinstance(instance, Mapping)
        shown = {}
        for name, source, convert, field in plan:
            if convert is None:
                shown[name] = field.to_representation(field.get_attribute(instance))
                continue
            value = instance[source] if mapping else getattr(instance, source)
            shown[name] = None if value is None else convert(value)
        return shown


def _iso_utc(value: datetime) -> str:
    """As DRF's DateTimeField shows a UTC datetime (ISO 8601, ``Z``)."""
    if value.tzinfo is UTC:  # as the database gives it: no conversion to make
        return value.isoformat()[:-6] + "Z"
    shown = value.astimezone(UTC).isoformat()
    return shown[:-6] + "Z" if shown.endswith("+00:00") else shown


def _plain_conversion(field: serializers.Field) -> Callable[[Any], Any] | None:
    """How to show ``field``'s value without the field, if it is that simple."""
    if field.source == "*" or "." in field.source or isinstance(field, serializers.BaseSerializer):
        return None
    if type(field) in (serializers.CharField, StrictCharField, serializers.EmailField, StrictEmailField):
        return str
    if type(field) is serializers.UUIDField and field.uuid_format == "hex_verbose":
        return str
    if type(field) is UTCDateTimeField and getattr(field, "format", api_settings.DATETIME_FORMAT) == ISO_8601:
        return _iso_utc
    if type(field) in (serializers.IntegerField, serializers.BooleanField, serializers.JSONField):
        return {serializers.IntegerField: int, serializers.BooleanField: bool}.get(type(field), lambda value: value)
    return None


class UTCDateTimeField(serializers.DateTimeField):
    """A datetime shown in UTC, the services' only time zone (``TIME_ZONE = "UTC"``): given
    the zone, DRF skips looking up the request's current one for every value it shows."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("default_timezone", UTC)
        super().__init__(**kwargs)


class StrictModelSerializer(FieldsBuiltOnce, serializers.ModelSerializer):
    """A ModelSerializer whose text fields take strings only, with its fields built once."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: UTCDateTimeField,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.EmailField: StrictEmailField,
    }


def bounded_text(*, required: bool, max_bytes: int | None = None) -> serializers.CharField:
    """A free-text field limited by its UTF-8 size (``MAX_TEXT_BYTES``, default 100 KB)."""

    def within_limit(value: str) -> None:
        limit = max_bytes or settings.MAX_TEXT_BYTES
        if len(value.encode()) > limit:
            raise serializers.ValidationError(f"Ensure this field is no larger than {limit} bytes.")

    extra = {} if required else {"required": False, "allow_blank": True, "default": ""}
    # A byte limit has no JSON Schema keyword (maxLength counts characters): it is described.
    return StrictCharField(
        trim_whitespace=False,
        validators=[within_limit],
        help_text="At most MAX_TEXT_BYTES (100 KB unless configured) as UTF-8.",
        **extra,
    )
