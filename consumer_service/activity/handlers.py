"""Events this service reacts to: every valid event of every topic is recorded, known
type or not (tolerant reader); post and note events also move the user's counters, and
``user.deleted`` erases the user (``services.events_record``); revoked tokens are refused
(servicekit.revocation), the events recorded all the same."""

from activity.services import events_record
from servicekit.consumer import EventHandlers, Received
from servicekit.revocation.handlers import handle_token_revocations

HANDLERS = EventHandlers(group="consumer_service")

HANDLERS.independent("user_events", "user.sessions_revoked", "user.deleted")(handle_token_revocations)


@HANDLERS.every_event("user_events", "post_events", "note_events")
def record_events(received: list[Received]) -> None:
    events_record(received=received)
