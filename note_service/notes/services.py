"""Note writes. Each function is one transaction."""

from uuid import UUID

from django.db import transaction

from notes.models import Note
from servicekit.db import save_changes


@transaction.atomic
def note_create(*, user_id: UUID, title: str, content: str) -> Note:
    return Note.objects.create(user_id=user_id, title=title, content=content)


@transaction.atomic
def note_update(*, note: Note, **fields: str) -> Note:
    """Sets the given fields (``title``, ``content``) and saves them."""
    return save_changes(note, fields)


@transaction.atomic
def note_delete(*, note: Note) -> None:
    note.delete()
