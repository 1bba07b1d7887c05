"""The event contract: envelope round trip and what counts as a poison message."""

import json
import uuid

import pytest

from servicekit.events import ConsumerGroup, EventEnvelope, EventType, InvalidEvent, Topic


def envelope(**overrides):
    doc = EventEnvelope(source="post_service", type=EventType.POST_CREATED, subject=str(uuid.uuid4()),
                        userid=str(uuid.uuid4()), data={"title": "x"}).to_dict()  # fmt: skip
    return {**doc, **overrides}


def test_round_trip_keeps_every_attribute():
    original = EventEnvelope(source="note_service", type=EventType.NOTE_DELETED, subject="n1", userid=str(uuid.uuid4()),
                             data={"id": "n1"})  # fmt: skip
    parsed = EventEnvelope.from_json(original.to_json())
    assert parsed == original
    doc = json.loads(original.to_json())
    assert doc["specversion"] == "1.0" and doc["datacontenttype"] == "application/json"
    assert doc["type"] == "note.deleted" and doc["time"].endswith("Z")


def test_topics_keys_and_dead_letter_topics():
    assert EventType.USER_LOGGED_IN.topic is Topic.USER
    assert EventType.POST_UPDATED.topic is Topic.POST
    assert EventType.NOTE_CREATED.topic is Topic.NOTE
    event = EventEnvelope.from_dict(envelope())
    assert event.key == event.subject and event.topic is Topic.POST
    assert ConsumerGroup.CONSUMER_SERVICE.dead_letter_topic == "consumer_service.dlq"


@pytest.mark.parametrize(
    "raw",
    [
        None,
        b"",
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'"a string"',
        json.dumps(envelope(specversion="0.3")).encode(),
        json.dumps(envelope(type="post.exploded")).encode(),
        json.dumps(envelope(id="not-a-uuid")).encode(),
        json.dumps(envelope(userid=None)).encode(),
        json.dumps(envelope(time="yesterday")).encode(),
        json.dumps(envelope(subject=42)).encode(),
        json.dumps(envelope(data=[1, 2])).encode(),
        json.dumps({k: v for k, v in envelope().items() if k != "source"}).encode(),
    ],
)
def test_poison_messages_are_invalid_events(raw):
    with pytest.raises(InvalidEvent):
        EventEnvelope.from_json(raw)


@pytest.mark.parametrize(
    "raw",
    [b"[" * 100_000, b'{"n": ' + b"9" * 5000 + b"}", json.dumps(envelope(time="2026-11-22T10:00:00")).encode()],
    ids=["deep-nesting", "huge-number", "naive-time"],
)
def test_pathological_values_are_invalid_events_not_crashes(raw):
    with pytest.raises(InvalidEvent):
        EventEnvelope.from_json(raw)
