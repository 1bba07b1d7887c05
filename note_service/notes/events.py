"""The events note_service publishes: its contract (docs/asyncapi.yaml is generated from it)."""

from servicekit.events import TIMESTAMP, UUID, Topic, object_schema

NOTE_EVENTS = Topic(
    "note_events",
    owner="note_service",
    key="the note's id",
    summary="Every change to a note, in order per note.",
)

NOTE = object_schema(
    id=UUID,
    user_id=UUID,
    title={"type": "string", "minLength": 1, "maxLength": 100},
    content={"type": "string"},
    created_at=TIMESTAMP,
    updated_at=TIMESTAMP,
)
NOTE_FIELDS = tuple(NOTE["properties"])

NOTE_CREATED = NOTE_EVENTS.event_type(
    "note.created", data=NOTE, summary="A note was created; data is the note as the API shows it."
)
NOTE_UPDATED = NOTE_EVENTS.event_type(
    "note.updated", data=NOTE, summary="A note changed; data is the note after the change."
)
NOTE_SNAPSHOT = NOTE_EVENTS.event_type(
    "note.snapshot",
    data=NOTE,
    summary="The note as it is now, republished (manage.py republish) for consumers that need the current state: "
    "an upsert, keyed and ordered like the note's other events.",
)
NOTE_DELETED = NOTE_EVENTS.event_type(
    "note.deleted",
    data=object_schema(id=UUID),
    summary="A note was deleted (by its owner, or because the owner's account was).",
)
