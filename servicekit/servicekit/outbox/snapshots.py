"""Republishing current state: one ``<aggregate>.snapshot`` event per object, through the outbox.

A new consumer (or a rebuilt read model) needs the objects that exist, not only the
events still on the topics. ``manage.py republish`` writes a snapshot event of each
object, as a service declares it next to its events::

    POST_SNAPSHOTS = Snapshots(model=Post, event_type=POST_SNAPSHOT, data=post_data, changed_field="updated_at")

and ``settings.EVENTS["SNAPSHOTS"]`` names the declarations. The contract of a snapshot:
``data`` is the object's public representation as it is now (the same as its ``*.updated``),
keyed and ordered like the object's other events; it says "this object exists, like
this", so consumers apply it as an idempotent upsert (and one they cannot use, they skip:
tolerant readers). Snapshots are written in batches, each one transaction that locks its
rows first (``SELECT ... FOR UPDATE``), as every update and delete does: a snapshot shows
the row as committed and takes its place among the object's events in commit order, and
no snapshot follows an object's delete.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet
from django.utils.module_loading import import_string

from servicekit.events import EventType
from servicekit.outbox import Event, emit_all

M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class Batch:
    count: int
    #: The primary key of the batch's last object: where to resume after it (``--after``).
    last: str | None


@dataclass(frozen=True)
class Snapshots(Generic[M]):
    """How to snapshot one kind of object: its model, the snapshot type, its data, whose it
    is (``user_field``; the object's own id for an account) and which field says when it
    last changed (for ``--since``)."""

    model: type[M]
    event_type: EventType
    data: Callable[[M], dict[str, Any]]
    user_field: str = "user_id"
    changed_field: str | None = None

    @property
    def name(self) -> str:
        return self.model._meta.verbose_name_plural

    def objects(self, *, user: uuid.UUID | None = None, since: datetime | None = None) -> QuerySet[M]:
        objects = self.model.objects.order_by("pk")
        if user is not None:
            objects = objects.filter(**{self.user_field: user})
        if since is not None:
            if self.changed_field is None:
                raise ValueError(f"{self.name} have no field that says when they changed: --since cannot apply")
            objects = objects.filter(**{f"{self.changed_field}__gte": since})
        return objects

    def republish(self, *, after: str | None = None, user: uuid.UUID | None = None, since: datetime | None = None,
                  batch_size: int = 500) -> Iterator[Batch]:  # fmt: skip
        """Writes the snapshot events, ``batch_size`` objects per transaction, in primary key
        order from after ``after``; yields each batch once committed."""
        while True:
            with transaction.atomic():
                objects = self.objects(user=user, since=since)
                if after is not None:
                    objects = objects.filter(pk__gt=after)
                batch = list(objects.select_for_update()[:batch_size])
                emit_all(Event(self.event_type, obj.pk, getattr(obj, self.user_field), self.data(obj)) for obj in batch)
            if not batch:
                return
            after = str(batch[-1].pk)
            yield Batch(len(batch), after)


def declared_snapshots() -> list[Snapshots]:
    """This service's declarations (``settings.EVENTS["SNAPSHOTS"]``: import paths)."""
    return [import_string(path) for path in settings.EVENTS.get("SNAPSHOTS", ())]
