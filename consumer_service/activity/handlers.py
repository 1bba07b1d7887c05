"""Every event type is recorded; post and note events also move the user's counters."""

from activity.services import event_record
from servicekit.consumer import Delivery, Handler
from servicekit.events import EventEnvelope, EventType


def handle_event(event: EventEnvelope, delivery: Delivery) -> None:
    event_record(event=event, delivery=delivery)


def handle_post_created(event: EventEnvelope, delivery: Delivery) -> None:
    event_record(event=event, delivery=delivery, posts=+1)


def handle_post_deleted(event: EventEnvelope, delivery: Delivery) -> None:
    event_record(event=event, delivery=delivery, posts=-1)


def handle_note_created(event: EventEnvelope, delivery: Delivery) -> None:
    event_record(event=event, delivery=delivery, notes=+1)


def handle_note_deleted(event: EventEnvelope, delivery: Delivery) -> None:
    event_record(event=event, delivery=delivery, notes=-1)


HANDLERS: dict[EventType, Handler] = {
    **dict.fromkeys(EventType, handle_event),
    EventType.POST_CREATED: handle_post_created,
    EventType.POST_DELETED: handle_post_deleted,
    EventType.NOTE_CREATED: handle_note_created,
    EventType.NOTE_DELETED: handle_note_deleted,
}
