"""Recording consumed events. Called by the consumer loop inside its transaction."""

from __future__ import annotations

from django.db.models import F, Value
from django.db.models.functions import Coalesce, Greatest

from activity.models import Event, UserActivity
from servicekit.consumer import Delivery
from servicekit.events import EventEnvelope, EventType


def event_record(*, event: EventEnvelope, delivery: Delivery, posts: int = 0, notes: int = 0) -> Event:
    """Stores ``event`` and folds it into its user's summary (``posts``/``notes``: +1/-1).

    Counter updates are single SQL statements, so concurrent consumers cannot lose one;
    the last activity only moves forward, whatever order events of different
    partitions arrive in.
    """
    stored = Event.objects.create(
        id=event.id,
        type=event.type.value,
        source=event.source,
        subject=event.subject,
        user_id=event.userid,
        time=event.timestamp,
        data=event.data,
        topic=delivery.topic,
        partition=delivery.partition,
        offset=delivery.offset,
    )
    UserActivity.objects.get_or_create(user_id=event.userid)
    changes = {
        "posts": Greatest(F("posts") + posts, 0),
        "notes": Greatest(F("notes") + notes, 0),
        "events_seen": F("events_seen") + 1,
        "last_activity_at": Greatest(Coalesce(F("last_activity_at"), Value(event.timestamp)), Value(event.timestamp)),
    }
    if event.type is EventType.USER_DELETED:
        changes["account_deleted"] = Value(True)
    updated = UserActivity.objects.filter(user_id=event.userid)
    updated.update(**changes)
    # Name the newest event type only if this event is the newest seen.
    updated.filter(last_activity_at=event.timestamp).update(last_event_type=event.type.value)
    return stored
