"""Note writes. Each is one transaction that also writes its ``note.*`` outbox event."""

from uuid import UUID

from notes.models import Note
from servicekit.events import EventType
from servicekit.resources import OwnedResourceWrites

NOTES = OwnedResourceWrites(
    model=Note,
    created=EventType.NOTE_CREATED,
    updated=EventType.NOTE_UPDATED,
    deleted=EventType.NOTE_DELETED,
    fields=("id", "user_id", "title", "content", "created_at", "updated_at"),
)


def note_create(*, user_id: UUID, title: str, content: str) -> Note:
    return NOTES.create(user_id=user_id, title=title, content=content)


def note_update(*, note: Note, **changes: str) -> Note:
    return NOTES.update(note, changes)


def note_delete(*, note: Note) -> None:
    NOTES.delete(note)


def note_delete_all_of_user(*, user_id: UUID) -> int:
    """Deletes every note of a deleted user, each with its own ``note.deleted`` event."""
    return NOTES.delete_all_of_user(user_id)
