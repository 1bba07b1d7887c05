from uuid import UUID

from django.db.models import QuerySet

from notes.models import Note


def note_list(*, user_id: UUID) -> QuerySet[Note]:
    """The user's notes; every read of notes goes through here, so ownership is one rule."""
    return Note.objects.filter(user_id=user_id)
