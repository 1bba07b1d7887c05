"""Writes of a per-user resource (posts, notes), each with its outbox event.

A service's ``services.py`` keeps its named, typed functions (``post_create`` ...) and
delegates the mechanics here: one transaction per write, the event written in it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import transaction
from django.db.models import Model

from servicekit.db import save_changes
from servicekit.events import EventType
from servicekit.outbox import emit

M = TypeVar("M", bound=Model)


def snapshot(instance: Model, fields: tuple[str, ...]) -> dict[str, Any]:
    """The public representation an event carries: ``fields`` of ``instance``."""
    return {name: getattr(instance, name) for name in fields}


@dataclass(frozen=True)
class OwnedResourceWrites(Generic[M]):
    """Create/update/delete for a model with a ``user_id`` owner, emitting events.

    ``fields`` are what the created/updated events carry; deletes carry the id only.
    """

    model: type[M]
    created: EventType
    updated: EventType
    deleted: EventType
    fields: tuple[str, ...]

    def _emit(self, event_type: EventType, instance: M, data: dict[str, Any]) -> None:
        emit(event_type, subject=instance.pk, user_id=instance.user_id, data=data)

    def create(self, **values: Any) -> M:
        with transaction.atomic():
            instance = self.model.objects.create(**values)
            self._emit(self.created, instance, snapshot(instance, self.fields))
            return instance

    def update(self, instance: M, changes: dict[str, Any]) -> M:
        with transaction.atomic():
            save_changes(instance, changes)
            self._emit(self.updated, instance, snapshot(instance, self.fields))
            return instance

    def delete(self, instance: M) -> None:
        with transaction.atomic():
            self._emit(self.deleted, instance, {"id": instance.pk})
            instance.delete()

    def delete_all_of_user(self, user_id: uuid.UUID) -> int:
        """Deletes every object of ``user_id``, each with its own delete event."""
        with transaction.atomic():
            instances = list(self.model.objects.filter(user_id=user_id).select_for_update())
            for instance in instances:
                self.delete(instance)
            return len(instances)
