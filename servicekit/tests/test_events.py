"""The event contract: envelope round trip and what counts as a poison message."""

import json
import uuid
from datetime import timedelta

import pytest

from servicekit.events import EventEnvelope, InvalidEvent, Topic, dead_letter_topic, object_schema, retention_config


def envelope(**overrides):
    doc = EventEnvelope(source="post_service", type="post.created", subject=str(uuid.uuid4()),
                        userid=str(uuid.uuid4()), data={"title": "x"}).to_dict()  # fmt: skip
    return {**doc, **overrides}


def test_round_trip_keeps_every_attribute_and_extensions():
    original = EventEnvelope(source="note_service", type="note.deleted", subject="n1", userid=str(uuid.uuid4()),
                             data={"id": "n1"}, extensions={"traceparent": "00-abc-def-01"})  # fmt: skip
    parsed = EventEnvelope.from_json(original.to_json())
    assert parsed == original
    doc = json.loads(original.to_json())
    assert doc["specversion"] == "1.0" and doc["datacontenttype"] == "application/json"
    assert doc["type"] == "note.deleted" and doc["time"].endswith("Z") and doc["traceparent"] == "00-abc-def-01"


@pytest.mark.parametrize("number", [2**63 - 1, 2**64 + 1, -(10**25), 10**30, 0.1, 1.5e300, -0.0])
def test_numbers_in_data_are_read_exactly(number):
    raw = json.dumps(envelope(data={"n": number, "nested": [number]})).encode()
    data = EventEnvelope.from_json(raw).data
    assert data == {"n": number, "nested": [number]} and type(data["n"]) is type(number)


def test_an_id_in_another_spelling_is_valid_and_compared_canonically():
    user, event_id = uuid.uuid4(), uuid.uuid4()
    parsed = EventEnvelope.from_json(json.dumps(envelope(id=str(event_id).upper(), userid=user.hex)).encode())
    assert parsed.canonical_id == str(event_id) and parsed.uuid == event_id


def test_an_unknown_type_is_a_valid_event_for_tolerant_readers():
    event = EventEnvelope.from_dict(envelope(type="post.archived"))
    assert event.type == "post.archived" and event.key == event.subject


def test_topics_declare_their_types_once_and_dead_letter_topics_follow_the_group():
    topic = Topic("thing_events", owner="thing_service", key="the thing's id", summary="Things.",
                  retention=timedelta(days=7))  # fmt: skip
    created = topic.event_type("thing.created", data=object_schema(), summary="A thing.")
    assert created.topic is topic and list(topic) == [created]
    with pytest.raises(ValueError, match="twice"):
        topic.event_type("thing.created", data=object_schema(), summary="Again.")
    assert dead_letter_topic("consumer_service") == "consumer_service.dlq"


def test_a_topic_declares_its_retention_and_compaction_as_kafka_configuration():
    kept = Topic("a", owner="s", key="k", summary="s", retention=timedelta(days=7))
    assert kept.config == {"cleanup.policy": "delete", "retention.ms": "604800000", "segment.ms": "86400000"}
    compacted = Topic("b", owner="s", key="k", summary="s", retention=timedelta(days=7),
                      compaction_lag=timedelta(hours=1))  # fmt: skip
    assert compacted.config == {"cleanup.policy": "compact,delete", "retention.ms": "604800000",
                                "segment.ms": "86400000", "min.compaction.lag.ms": "3600000",
                                "max.compaction.lag.ms": "3600000"}  # fmt: skip
    assert retention_config(timedelta(hours=2))["retention.ms"] == "7200000"


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
        json.dumps(envelope(type="x" * 129)).encode(),
        json.dumps(envelope(type=42)).encode(),
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
