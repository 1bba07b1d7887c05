"""Events this service reacts to: every valid event of every topic is recorded, known
type or not (tolerant reader); post and note events also move the user's counters, and
``user.deleted`` erases the user (``services.events_record``)."""

from activity.services import events_record
from servicekit.consumer import EventHandlers, Received

HANDLERS = EventHandlers(group="consumer_service")


@HANDLERS.every_event("user_events", "post_events", "note_events")
def record_events(received: list[Received]) -> None:
    events_record(received=received)
