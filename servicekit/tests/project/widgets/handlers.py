"""What the test service consumes: its own widget events, recorded in order (Applied)."""

from servicekit.consumer import EventHandlers, Received
from servicekit.revocation.handlers import handle_token_revocations
from widgets.models import Applied

HANDLERS = EventHandlers(group="servicekit_tests")

# A verifier of tokens like every service (servicekit.revocation).
HANDLERS.independent("user_events", "user.sessions_revoked", "user.deleted")(handle_token_revocations)


@HANDLERS.batch("widget_events", "widget.created", "widget.updated", "widget.deleted")
def record_widget_events(received: list[Received]) -> None:
    Applied.objects.bulk_create(
        Applied(event_id=item.event.id, event_type=item.event.type, subject=item.event.subject) for item in received
    )
