"""The events note_service publishes: its contract (docs/asyncapi.yaml is generated from it).

A note's events say which note of whom changed and when, not what it says: no consumer
needs the title or the content (consumer_service counts and lists events, the owner reads
the note here), and a copy of them on the topic and in every consumer would have to be
erased everywhere when the note or its author goes.
"""

from datetime import timedelta

from servicekit.events import TIMESTAMP, UUID, Topic, object_schema

NOTE_EVENTS = Topic(
    "note_events",
    owner="note_service",
    key="the note's id",
    summary="Every change to a note, in order per note.",
    retention=timedelta(days=7),
)

NOTE = object_schema(id=UUID, user_id=UUID, created_at=TIMESTAMP, updated_at=TIMESTAMP)
NOTE_FIELDS = tuple(NOTE["properties"])

NOTE_CREATED = NOTE_EVENTS.event_type(
    "note.created", data=NOTE, summary="A note was created; data is its id, owner and times."
)
NOTE_UPDATED = NOTE_EVENTS.event_type(
    "note.updated", data=NOTE, summary="A note changed; data is its id, owner and times after the change."
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
