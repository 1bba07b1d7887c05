"""Events this service reacts to: one thin function per event type, in one table."""

from uuid import UUID

from notes.services import note_delete_all_of_users
from servicekit.consumer import EventHandlers, Received

HANDLERS = EventHandlers(group="note_service")


@HANDLERS.batch("user_events", "user.deleted")
def handle_users_deleted(received: list[Received]) -> None:
    note_delete_all_of_users(user_ids=[UUID(item.event.subject) for item in received])
