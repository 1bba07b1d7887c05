"""Note writes. Each is one transaction that also writes its ``note.*`` outbox event."""

from uuid import UUID

from notes.events import NOTE_CREATED, NOTE_DELETED, NOTE_FIELDS, NOTE_SNAPSHOT, NOTE_UPDATED
from notes.models import Note
from servicekit.outbox import snapshot
from servicekit.outbox.snapshots import Snapshots
from servicekit.resources import OwnedResourceWrites

NOTES = OwnedResourceWrites(
    model=Note, created=NOTE_CREATED, updated=NOTE_UPDATED, deleted=NOTE_DELETED, fields=NOTE_FIELDS
)
#: What ``manage.py republish`` writes: a ``note.snapshot`` of each note (settings.EVENTS["SNAPSHOTS"]).
NOTE_SNAPSHOTS = Snapshots(
    model=Note, event_type=NOTE_SNAPSHOT, data=lambda note: snapshot(note, NOTE_FIELDS), changed_field="updated_at"
)


def note_create(*, user_id: UUID, title: str, content: str) -> Note:
    return NOTES.create(user_id=user_id, title=title, content=content)


def note_update(*, note: Note, **changes: str) -> Note:
    return NOTES.update(note, changes)


def note_delete(*, note: Note) -> None:
    NOTES.delete(note)


def note_delete_all_of_users(*, user_ids: list[UUID]) -> int:
    """Deletes every note of these deleted users, each with its own ``note.deleted`` event."""
    return NOTES.delete_all_of_users(user_ids)
