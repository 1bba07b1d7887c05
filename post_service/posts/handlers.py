"""Events this service reacts to: one thin function per event type, in one table."""

from uuid import UUID

from posts.services import post_delete_all_of_user
from servicekit.consumer import Delivery, Handler
from servicekit.events import EventEnvelope, EventType


def handle_user_deleted(event: EventEnvelope, delivery: Delivery) -> None:
    post_delete_all_of_user(user_id=UUID(event.subject))


HANDLERS: dict[EventType, Handler] = {
    EventType.USER_DELETED: handle_user_deleted,
}
