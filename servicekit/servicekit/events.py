"""The event contract: topics, event types and the CloudEvents 1.0 envelope.

Every topic name and event type is defined here, once. A message on a topic is one
envelope in structured mode (``content-type: application/cloudevents+json``), keyed by
the aggregate id so that all events of one entity stay in order on one partition.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"


class Topic(enum.StrEnum):
    USER = "user_events"
    POST = "post_events"
    NOTE = "note_events"


class EventType(enum.StrEnum):
    USER_REGISTERED = "user.registered"
    USER_UPDATED = "user.updated"
    USER_DELETED = "user.deleted"
    USER_LOGGED_IN = "user.logged_in"
    POST_CREATED = "post.created"
    POST_UPDATED = "post.updated"
    POST_DELETED = "post.deleted"
    NOTE_CREATED = "note.created"
    NOTE_UPDATED = "note.updated"
    NOTE_DELETED = "note.deleted"

    @property
    def topic(self) -> Topic:
        """The topic of the aggregate: ``post.created`` goes to ``post_events``."""
        return Topic(f"{self.value.split('.', 1)[0]}_events")


class ConsumerGroup(enum.StrEnum):
    """Consumer groups are named after the consuming service."""

    CONSUMER_SERVICE = "consumer_service"
    POST_SERVICE = "post_service"
    NOTE_SERVICE = "note_service"

    @property
    def dead_letter_topic(self) -> str:
        return f"{self.value}.dlq"


def utc_now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_envelope(doc: dict[str, Any]) -> bytes:
    """The bytes of a message value: compact JSON, keys sorted."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


class InvalidEvent(ValueError):
    """A message that is not a valid envelope of a known event type (a poison message)."""


@dataclass(frozen=True)
class EventEnvelope:
    """One CloudEvents 1.0 event. ``subject`` is the aggregate id, ``userid`` its owner."""

    source: str
    type: EventType
    subject: str
    userid: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    time: str = field(default_factory=utc_now_rfc3339)
    specversion: str = SPECVERSION
    datacontenttype: str = "application/json"

    @property
    def topic(self) -> Topic:
        return self.type.topic

    @property
    def key(self) -> str:
        return self.subject

    @property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00"))

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["type"] = self.type.value
        return doc

    def to_json(self) -> bytes:
        return encode_envelope(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Any) -> EventEnvelope:
        """Validates ``doc`` against the contract. Raises :class:`InvalidEvent`."""
        if not isinstance(doc, dict):
            raise InvalidEvent("envelope is not a JSON object")
        if doc.get("specversion") != SPECVERSION:
            raise InvalidEvent(f"unsupported specversion {doc.get('specversion')!r}")
        missing = [name for name in ("id", "source", "type", "subject", "time", "userid") if not doc.get(name)]
        if missing:
            raise InvalidEvent(f"missing attributes: {', '.join(missing)}")
        text = {name: doc[name] for name in ("id", "source", "type", "subject", "time", "userid")}
        if not all(isinstance(value, str) for value in text.values()):
            raise InvalidEvent("attributes id, source, type, subject, time, userid must be strings")
        try:
            event_type = EventType(doc["type"])
        except ValueError:
            raise InvalidEvent(f"unknown event type {doc['type']!r}") from None
        try:
            uuid.UUID(text["id"])
            uuid.UUID(text["userid"])
            when = datetime.fromisoformat(text["time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent(f"malformed attribute: {exc}") from None
        if when.tzinfo is None:
            raise InvalidEvent("time has no UTC offset (RFC 3339 requires one)")
        data = doc.get("data", {})
        if not isinstance(data, dict):
            raise InvalidEvent("data must be a JSON object")
        return cls(
            id=text["id"],
            source=text["source"],
            type=event_type,
            subject=text["subject"],
            time=text["time"],
            userid=text["userid"],
            data=data,
            datacontenttype=doc.get("datacontenttype") or "application/json",
        )

    @classmethod
    def from_json(cls, raw: bytes | None) -> EventEnvelope:
        """Parses a message value. Raises :class:`InvalidEvent` for anything else."""
        if not raw:
            raise InvalidEvent("empty message")
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError) as exc:  # bad bytes, bad JSON, absurd nesting or numbers
            raise InvalidEvent(f"not JSON: {exc.__class__.__name__}: {str(exc)[:200]}") from None
        return cls.from_dict(doc)
