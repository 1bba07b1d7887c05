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
from django.http import Http404
from rest_framework.exceptions import AuthenticationFailed

from servicekit.db import save_changes
from servicekit.events import EventType
from servicekit.inbox.models import DeletedUser
from servicekit.outbox import Event, emit, emit_all, outbox_row, snapshot

M = TypeVar("M", bound=Model)


def user_lock(*user_ids: uuid.UUID | str) -> None:
    """Serialises a user's creates with the deletion of their content, until the
    transaction ends, so that no object can slip in while the user is being deleted.

    PostgreSQL: transaction-level advisory locks on the user ids, taken in one statement
    and in a fixed order (two cascades never deadlock). SQLite runs one write transaction
    at a time anyway.
    """
    connection = transaction.get_connection()
    if connection.vendor == "postgresql":
        keys = sorted({user_lock_key(user_id) for user_id in user_ids})
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k", [keys])


def user_lock_key(user_id: uuid.UUID | str) -> int:
    """The advisory lock of a user: 63 bits of the id (a signed bigint)."""
    return uuid.UUID(str(user_id)).int >> 65


@dataclass(frozen=True)
class OwnedResourceWrites(Generic[M]):
    """Create/update/delete for a model with a ``user_id`` owner, emitting events.

    ``fields`` are what the created/updated events carry; deletes carry the id only.
    Updates and deletes lock the row first, so that concurrent writes to one object are
    applied, and their events written, one after the other: each event shows the row as
    committed, events of one object are in commit order, and a second delete finds
    nothing (404) instead of announcing the deletion twice.
    """

    model: type[M]
    created: EventType
    updated: EventType
    deleted: EventType
    fields: tuple[str, ...]

    def _emit(self, event_type: EventType, instance: M, data: dict[str, Any]) -> None:
        emit(event_type, subject=instance.pk, user_id=instance.user_id, data=data)

    def _locked(self, instance: M) -> M:
        """The row as committed now, locked until the transaction ends; 404 if it is gone."""
        locked = self.model.objects.select_for_update().filter(pk=instance.pk).first()
        if locked is None:
            raise Http404
        return locked

    def create(self, **values: Any) -> M:
        """Raises AuthenticationFailed (401) for a user this service knows is deleted.

        On PostgreSQL outside a caller's transaction the whole write is one round trip
        (:func:`_create_in_one_round_trip`); elsewhere the same steps run in a transaction.
        """
        connection = transaction.get_connection()
        if connection.vendor == "postgresql" and not connection.in_atomic_block:
            return self._create_in_one_round_trip(values)
        with transaction.atomic():
            user_lock(values["user_id"])
            if DeletedUser.objects.filter(user_id=values["user_id"]).exists():
                raise AuthenticationFailed("This account has been deleted.", code="user_deleted")
            instance = self.model.objects.create(**values)
            self._emit(self.created, instance, snapshot(instance, self.fields))
            return instance

    def _create_in_one_round_trip(self, values: dict[str, Any]) -> M:
        """The user lock, the deleted-user check, the insert and its outbox row, sent as
        one query: PostgreSQL runs a multi-statement query as one transaction, and each
        statement takes a fresh snapshot, so the check (after the lock) sees a deletion
        that committed while this waited for the lock, as the transactional path does.
        A create costs one round trip instead of six (BEGIN, lock, check, insert, insert,
        COMMIT): the request path's dominant cost."""
        connection = transaction.get_connection()
        instance = self.model(**values)
        meta = self.model._meta
        columns = list(meta.concrete_fields)
        row_values = [field.pre_save(instance, add=True) for field in columns]
        event = outbox_row(Event(self.created, instance.pk, instance.user_id, snapshot(instance, self.fields)))
        outbox_fields = [field for field in event._meta.concrete_fields if not field.primary_key]
        params = [user_lock_key(values["user_id"])]
        params += [field.get_db_prep_save(value, connection) for field, value in zip(columns, row_values, strict=True)]
        params.append(instance.user_id)
        params += [field.get_db_prep_save(field.pre_save(event, add=True), connection) for field in outbox_fields]

        def typed(fields: list[Any]) -> str:
            return ", ".join(f"%s::{field.cast_db_type(connection)}" for field in fields)

        def names(fields: list[Any]) -> str:
            return ", ".join(connection.ops.quote_name(field.column) for field in fields)

        sql = f"""
            SELECT pg_advisory_xact_lock(%s);
            WITH created AS (
                INSERT INTO {meta.db_table} ({names(columns)}) SELECT {typed(columns)}
                WHERE NOT EXISTS (SELECT 1 FROM {DeletedUser._meta.db_table} WHERE user_id = %s::uuid)
                RETURNING 1
            )
            INSERT INTO {event._meta.db_table} ({names(outbox_fields)}) SELECT {typed(outbox_fields)} FROM created
        """
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            if cursor.rowcount != 1:
                raise AuthenticationFailed("This account has been deleted.", code="user_deleted")
        instance._state.adding, instance._state.db = False, connection.alias
        return instance

    def update(self, instance: M, changes: dict[str, Any]) -> M:
        with transaction.atomic():
            locked = save_changes(self._locked(instance), changes)
            self._emit(self.updated, locked, snapshot(locked, self.fields))
            return locked

    def delete(self, instance: M) -> None:
        with transaction.atomic():
            locked = self._locked(instance)
            self._emit(self.deleted, locked, {"id": locked.pk})
            locked.delete()

    def delete_all_of_users(self, user_ids: list[uuid.UUID]) -> int:
        """Deletes every object of these users, each with its own delete event, and refuses
        their writes from now on (their tokens live on until they expire). A constant
        number of statements, however many users and objects. Idempotent."""
        with transaction.atomic():
            user_lock(*user_ids)
            DeletedUser.objects.bulk_create([DeletedUser(user_id=user_id) for user_id in user_ids],
                                            ignore_conflicts=True)  # fmt: skip
            instances = list(self.model.objects.filter(user_id__in=user_ids).order_by("pk").select_for_update())
            emit_all(Event(self.deleted, instance.pk, instance.user_id, {"id": instance.pk}) for instance in instances)
            self.model.objects.filter(pk__in=[instance.pk for instance in instances]).delete()
            return len(instances)
