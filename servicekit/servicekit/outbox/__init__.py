"""The transactional outbox: ``emit`` in a service function, ``relay_outbox`` publishes.

``servicekit.outbox`` is a Django app (add it to INSTALLED_APPS); its tables live in the
producing service's own database. On PostgreSQL a trigger sends one NOTIFY per statement
that writes outbox rows, delivered when the writer commits: the request path pays no
round trip for waking the relays.
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from servicekit import tracing
from servicekit.events import EventEnvelope, EventType

if TYPE_CHECKING:
    from servicekit.outbox.models import OutboxEvent

#: PostgreSQL channel the relays LISTEN on.
NOTIFY_CHANNEL = "servicekit_outbox"
#: The payload that asks relays to claim from the start again (see relay.request_rescan).
RESCAN = "rescan"


class EventDataEncoder(DjangoJSONEncoder):
    """Datetimes as the APIs show them (microseconds, ``Z``), so ``data`` matches the API."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


@dataclass(frozen=True)
class Event:
    """An event to emit: its declared type, the aggregate it is about, its owner and data."""

    type: EventType
    subject: uuid.UUID | str
    user_id: uuid.UUID | str
    data: dict[str, Any]


def snapshot(instance: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    """What an event's ``data`` carries of an object: ``fields`` of ``instance``."""
    return {name: getattr(instance, name) for name in fields}


def outbox_row(event: Event) -> OutboxEvent:
    """The (unsaved) outbox row of ``event``: its CloudEvents envelope, topic and key."""
    from servicekit.outbox.models import OutboxEvent

    envelope = EventEnvelope(
        source=settings.SERVICE_NAME,
        type=event.type.name,
        subject=str(event.subject),
        userid=str(event.user_id),
        data=json.loads(json.dumps(event.data, cls=EventDataEncoder)),
        # The trace this change belongs to, continued by the relay and the consumers.
        extensions=tracing.current_context() if tracing.ENABLED else {},
    )
    return OutboxEvent(
        event_id=envelope.id,
        event_type=envelope.type,
        topic=event.type.topic.name,
        key=envelope.key,
        payload=envelope.to_dict(),
    )


def emit_all(events: Iterable[Event]) -> list[OutboxEvent]:
    """Records ``events`` in the outbox, in order and in the caller's transaction (one INSERT).

    Must be called inside ``transaction.atomic``: the events are committed with the change
    or rolled back with it, never one without the other. ``data`` may hold UUIDs and
    datetimes (encoded as the APIs show them).
    """
    from servicekit.outbox.models import OutboxEvent

    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("emit() must run inside transaction.atomic() with the change it describes")
    rows = [outbox_row(event) for event in events]
    return OutboxEvent.objects.bulk_create(rows) if rows else []


def emit(
    event_type: EventType, *, subject: uuid.UUID | str, user_id: uuid.UUID | str, data: dict[str, Any]
) -> OutboxEvent:
    """Records one event in the outbox, in the caller's transaction (see :func:`emit_all`)."""
    return emit_all([Event(event_type, subject, user_id, data)])[0]
