"""Recording consumed events. Called by the consumer loop inside its transaction."""

from __future__ import annotations

from activity.models import Event, UserActivity
from servicekit.consumer import Delivery
from servicekit.events import EventEnvelope, EventType


def event_record(*, event: EventEnvelope, delivery: Delivery, posts: int = 0, notes: int = 0) -> Event:
    """Stores ``event`` and folds it into its user's summary (``posts``/``notes``: +1/-1).

    The summary row is locked while it changes, so concurrent consumers cannot lose an
    update; the last activity only moves forward, whatever order events of different
    partitions arrive in. Runs in the caller's transaction.
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
    summary = UserActivity.objects.select_for_update().filter(user_id=event.userid).first()
    is_new = summary is None
    if is_new:
        # A concurrent first insert for the same user fails this one; the consumer loop
        # then retries it, and it finds the row.
        summary = UserActivity(user_id=event.userid)
    summary.posts = max(0, summary.posts + posts)
    summary.notes = max(0, summary.notes + notes)
    summary.events_seen += 1
    if summary.last_activity_at is None or event.timestamp >= summary.last_activity_at:
        summary.last_activity_at = event.timestamp
        summary.last_event_type = event.type.value
    if event.type is EventType.USER_DELETED:
        summary.account_deleted = True
    summary.save(force_insert=is_new)
    return stored
