"""note_service settings: the shared base from servicekit plus the notes app."""

from pathlib import Path

from servicekit.events import ConsumerGroup, Topic
from servicekit.settings import JWTRole, build_settings

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="note_service",
        base_dir=BASE_DIR,
        apps=["servicekit.outbox", "servicekit.inbox", "notes"],
        jwt_role=JWTRole.VERIFIER,
        title="note_service API",
    )
)

# `manage.py consume_events`: delete a deleted user's notes (see notes/handlers.py).
EVENT_CONSUMER = {
    "group": ConsumerGroup.NOTE_SERVICE,
    "topics": [Topic.USER],
    "handlers": "notes.handlers.HANDLERS",
}
