from notes.selectors import note_list
from notes.serializers import NoteSerializer
from notes.services import note_create, note_delete, note_update
from servicekit.api import OwnedResourceViewSet, ResourceServices


class NoteViewSet(OwnedResourceViewSet):
    """The caller's notes. ``?search=`` matches titles; ``?ordering=`` created_at, updated_at, title."""

    serializer_class = NoteSerializer
    selector = staticmethod(note_list)
    services = ResourceServices(name="note", create=note_create, update=note_update, delete=note_delete)
