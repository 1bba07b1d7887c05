from notes.models import Note
from servicekit.api import StrictModelSerializer, bounded_text


class NoteSerializer(StrictModelSerializer):
    """A note, as the API shows it and takes it (the owner comes from the token)."""

    content = bounded_text(required=True)

    class Meta:
        model = Note
        fields = ["id", "user_id", "title", "content", "created_at", "updated_at"]
        read_only_fields = ["id", "user_id", "created_at", "updated_at"]
