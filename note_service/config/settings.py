"""note_service settings: the shared base from servicekit plus the notes app."""

from pathlib import Path

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

EVENTS = {
    # What relay_outbox publishes and ensure_topics creates (notes/events.py: the contract).
    "PUBLISHES": ["notes.events.NOTE_EVENTS"],
    # What republish writes: a note.snapshot of each note (notes/services.py).
    "SNAPSHOTS": ["notes.services.NOTE_SNAPSHOTS"],
    # What consume_events reacts to: a deleted user's notes are deleted (notes/handlers.py).
    "HANDLERS": "notes.handlers.HANDLERS",
}
