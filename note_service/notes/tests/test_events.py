from notes.models import Note
from servicekit.testkit.contracts import OwnedResourceEventsContract


class TestNoteEvents(OwnedResourceEventsContract):
    url = "/api/notes/"
    model = Note
    payload = {"title": "Groceries", "content": "Milk, eggs."}
    topic = "note_events"
    name = "note"
