"""The transactional outbox: ``emit`` in a service function, ``relay_outbox`` publishes.

``servicekit.outbox`` is a Django app (add it to INSTALLED_APPS); its table lives in the
producing service's own database.
"""

from __future__ import annotations

import datetime
import json
import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction

from servicekit.events import EventEnvelope, EventType

if TYPE_CHECKING:
    from servicekit.outbox.models import OutboxEvent

#: PostgreSQL channel the relays LISTEN on; NOTIFY is delivered only when the writer commits.
NOTIFY_CHANNEL = "servicekit_outbox"


class EventDataEncoder(DjangoJSONEncoder):
    """Datetimes as the APIs show them (microseconds, ``Z``), so ``data`` matches the API."""

    def default(self, o: Any) -> Any:
        if isinstance(o, datetime.datetime):
            return o.isoformat().replace("+00:00", "Z")
        return super().default(o)


def emit(
    event_type: EventType, *, subject: uuid.UUID | str, user_id: uuid.UUID | str, data: dict[str, Any]
) -> OutboxEvent:
    """Records an event in the outbox, in the caller's transaction.

    Must be called inside ``transaction.atomic``: the event is committed with the change
    or rolled back with it, never one without the other. ``data`` may hold UUIDs and
    datetimes (encoded as the APIs show them).
    """
    from servicekit.outbox.models import OutboxEvent

    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("emit() must run inside transaction.atomic() with the change it describes")
    envelope = EventEnvelope(
        source=settings.SERVICE_NAME,
        type=event_type,
        subject=str(subject),
        userid=str(user_id),
        data=json.loads(json.dumps(data, cls=EventDataEncoder)),
    )
    row = OutboxEvent.objects.create(
        event_id=envelope.id,
        event_type=envelope.type.value,
        topic=envelope.topic.value,
        key=envelope.key,
        payload=envelope.to_dict(),
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, '')", [NOTIFY_CHANNEL])
    return row
