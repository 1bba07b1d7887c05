"""Events this service reacts to: one thin function per event type, in one table."""

from uuid import UUID

from notes.services import note_delete_all_of_users
from servicekit.consumer import EventHandlers, Received
from servicekit.revocation.handlers import handle_token_revocations

HANDLERS = EventHandlers(group="note_service")

# Access tokens refused once user_service revokes them (servicekit.revocation).
HANDLERS.independent("user_events", "user.sessions_revoked", "user.deleted")(handle_token_revocations)


@HANDLERS.batch("user_events", "user.deleted")
def handle_users_deleted(received: list[Received]) -> None:
    note_delete_all_of_users(user_ids=[UUID(item.event.subject) for item in received])
