"""DRF building blocks shared by the services: caller identity and owned CRUD."""

from __future__ import annotations

import uuid
from typing import Any, ClassVar, Protocol

from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request
from rest_framework.serializers import BaseSerializer


def caller_id(request: Request) -> uuid.UUID:
    """The authenticated caller's user id (the token's ``user_id`` claim) as a UUID."""
    try:
        return uuid.UUID(str(request.user.id))
    except (ValueError, AttributeError, TypeError):
        raise AuthenticationFailed("Token has no valid user id.", code="token_not_valid") from None


class OwnedResourceServices(Protocol):
    """The write functions of one resource, as the viewset calls them (keyword-only)."""

    def create(self, *, user_id: uuid.UUID, **fields: Any) -> Model: ...
    def update(self, *, instance: Model, **fields: Any) -> Model: ...
    def delete(self, *, instance: Model) -> None: ...


class OwnedResourceViewSet(viewsets.ModelViewSet):
    """CRUD on the caller's own objects; anyone else's are simply not found (404).

    Subclasses set ``serializer_class``, ``selector`` (``user_id -> QuerySet`` of that
    user's objects) and ``services``. Every write goes through ``services`` so that a
    resource's side effects (its outbox events) live in one place.
    """

    selector: ClassVar[Any]
    services: ClassVar[OwnedResourceServices]
    # A malformed id never matches the route: 404 before any query, never a 500.
    lookup_value_converter = "uuid"
    search_fields: ClassVar[list[str]] = ["title"]
    ordering_fields: ClassVar[list[str]] = ["created_at", "updated_at", "title"]
    ordering: ClassVar[list[str]] = ["-created_at", "-id"]

    def get_queryset(self) -> QuerySet:
        return type(self).selector(user_id=caller_id(self.request))

    def perform_create(self, serializer: BaseSerializer) -> None:
        serializer.instance = self.services.create(user_id=caller_id(self.request), **serializer.validated_data)

    def perform_update(self, serializer: BaseSerializer) -> None:
        serializer.instance = self.services.update(instance=serializer.instance, **serializer.validated_data)

    def perform_destroy(self, instance: Model) -> None:
        self.services.delete(instance=instance)
