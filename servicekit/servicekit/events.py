"""The event mechanics every service shares: the CloudEvents 1.0 envelope, and the way a
service declares what it publishes.

The domain is not here. Each producing service declares its topics and event types,
with a JSON Schema for each type's ``data``, next to its models (``posts/events.py``)::

    POST_EVENTS = Topic("post_events", owner="post_service", key="the post's id",
                        summary="Every change to a post, in order per post.", retention=timedelta(days=7))
    POST_CREATED = POST_EVENTS.event_type("post.created", data=POST_DATA, summary="...")

and emits them with :func:`servicekit.outbox.emit`. A type's ``data`` carries what its
consumers need and nothing more: whatever personal data it holds is copied to every
consumer and stays on the topic for the topic's retention, which the declaration states
(``ensure_topics`` creates the topic with it). ``make contract`` writes every
service's declarations into one AsyncAPI document (``docs/asyncapi.yaml``).

A message on a topic is one envelope in structured mode (``content-type:
application/cloudevents+json``), keyed by the aggregate id (the ``subject``) so that all
events of one entity stay in order on one partition. Consumers are tolerant readers: a
valid envelope of a type they do not know is theirs to skip, not a poison message.
"""

from __future__ import annotations

import json
import re
import uuid as uuid_module
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

SPECVERSION = "1.0"
CONTENT_TYPE = "application/cloudevents+json"
#: The context attributes this envelope defines; any other top-level string attribute is
#: a CloudEvents extension (``traceparent``, say) and travels along untouched.
ATTRIBUTES = ("specversion", "id", "source", "type", "subject", "time", "datacontenttype", "userid", "data")
REQUIRED = ("id", "source", "type", "subject", "time", "userid")
#: Longest type, source or subject a consumer stores (and a key a topic carries).
MAX_ATTRIBUTE_LENGTH = 128
# CloudEvents: extension names are lower-case ASCII letters and digits, at most 20 long.
EXTENSION_NAME = re.compile(r"^[a-z0-9]{1,20}$")
#: A UUID as every producer of this project writes it; other spellings that ``uuid.UUID``
#: reads are valid too, only slower to check.
CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# -- JSON Schema building blocks for ``data`` schemas ---------------------------------------

UUID = {"type": "string", "format": "uuid"}
TIMESTAMP = {"type": "string", "format": "date-time"}


def object_schema(**properties: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON Schema object with every property required; extra properties allowed, so a
    producer may add fields without breaking tolerant readers."""
    return {"type": "object", "required": list(properties), "properties": dict(properties)}


# -- declarations ---------------------------------------------------------------------------

#: Kafka deletes whole segments, and rolls a partition's active segment after this long: a
#: record outlives its topic's retention by at most this much.
SEGMENT = timedelta(days=1)
#: How long dead letters are kept: time for an operator to look at them (they are copies of
#: messages of any topic, personal data included).
DEAD_LETTER_RETENTION = timedelta(days=7)


def _ms(duration: timedelta) -> str:
    return str(int(duration.total_seconds() * 1000))


def retention_config(retention: timedelta, *, compaction_lag: timedelta | None = None) -> dict[str, str]:
    """The Kafka topic configuration that keeps records ``retention`` (plus at most one
    :data:`SEGMENT`) and, with ``compaction_lag``, also only the latest record of each key
    once a record is that old (``cleanup.policy=compact,delete``)."""
    config = {"cleanup.policy": "delete", "retention.ms": _ms(retention), "segment.ms": _ms(SEGMENT)}
    if compaction_lag is not None:
        # Younger records are never compacted (a consumer less far behind sees every event);
        # older ones are compacted from then on (max = min).
        config.update({"cleanup.policy": "compact,delete", "min.compaction.lag.ms": _ms(compaction_lag),
                       "max.compaction.lag.ms": _ms(compaction_lag)})  # fmt: skip
    return config


@dataclass(frozen=True)
class EventType:
    """One event type of a topic: its name (``post.created``) and its ``data`` schema."""

    name: str
    topic: Topic
    summary: str
    data: Mapping[str, Any]

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True, eq=False)
class Topic:
    """A topic a service publishes to, declared once by that service (its owner).

    ``retention``: how long the broker keeps its records (at most one :data:`SEGMENT`
    more). ``compaction_lag``: if set, a record that old is dropped once a later record of
    its key exists, so an entity's earlier events go that long after its last one.
    """

    name: str
    owner: str
    key: str
    summary: str
    retention: timedelta
    compaction_lag: timedelta | None = None
    types: dict[str, EventType] = field(default_factory=dict, repr=False)

    @property
    def config(self) -> dict[str, str]:
        """The topic's Kafka configuration (what ``ensure_topics`` creates it with)."""
        return retention_config(self.retention, compaction_lag=self.compaction_lag)

    def event_type(self, name: str, *, data: Mapping[str, Any], summary: str) -> EventType:
        if name in self.types:
            raise ValueError(f"{self.name} declares {name} twice")
        declared = EventType(name=name, topic=self, summary=summary, data=data)
        self.types[name] = declared
        return declared

    def __iter__(self) -> Iterator[EventType]:
        return iter(self.types.values())

    def __str__(self) -> str:
        return self.name


def dead_letter_topic(group: str) -> str:
    """Each consumer group's dead letters go to ``<group>.dlq`` (kept :data:`DEAD_LETTER_RETENTION`)."""
    return f"{group}.dlq"


# -- the envelope ---------------------------------------------------------------------------


def utc_now_rfc3339() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def encode_envelope(doc: dict[str, Any]) -> bytes:
    """The bytes of a message value: compact JSON, keys sorted."""
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def canonical_uuid(text: str) -> str:
    """A UUID's text in canonical form (lowercase, hyphenated), as PostgreSQL writes it.
    Raises ValueError for what is not a UUID."""
    return text if CANONICAL_UUID.fullmatch(text) else str(uuid_module.UUID(text))


class InvalidEvent(ValueError):
    """A message that is not a valid CloudEvents envelope (a poison message)."""


@dataclass(frozen=True)
class EventEnvelope:
    """One CloudEvents 1.0 event. ``subject`` is the aggregate id (the message key),
    ``userid`` its owner; ``extensions`` holds any other context attribute."""

    source: str
    type: str
    subject: str
    userid: str
    data: dict[str, Any]
    id: str = field(default_factory=lambda: str(uuid_module.uuid4()))
    time: str = field(default_factory=utc_now_rfc3339)
    specversion: str = SPECVERSION
    datacontenttype: str = "application/json"
    extensions: dict[str, str] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.subject

    @cached_property
    def timestamp(self) -> datetime:
        return datetime.fromisoformat(self.time.replace("Z", "+00:00"))

    @cached_property
    def uuid(self) -> uuid_module.UUID:
        return uuid_module.UUID(self.id)

    @cached_property
    def canonical_id(self) -> str:
        """The id in canonical form: what deduplication compares."""
        return canonical_uuid(self.id)

    def to_dict(self) -> dict[str, Any]:
        doc = asdict(self)
        return {**doc.pop("extensions"), **doc}

    def to_json(self) -> bytes:
        return encode_envelope(self.to_dict())

    @classmethod
    def from_dict(cls, doc: Any) -> EventEnvelope:
        """Validates ``doc`` against the envelope contract. Raises :class:`InvalidEvent`.

        The type is not checked against any list: whether a consumer knows it is the
        consumer's business (tolerant reader).
        """
        if not isinstance(doc, dict):
            raise InvalidEvent("envelope is not a JSON object")
        if doc.get("specversion") != SPECVERSION:
            raise InvalidEvent(f"unsupported specversion {doc.get('specversion')!r}")
        missing = [name for name in REQUIRED if not doc.get(name)]
        if missing:
            raise InvalidEvent(f"missing attributes: {', '.join(missing)}")
        text = {name: doc[name] for name in REQUIRED}
        if not all(isinstance(value, str) for value in text.values()):
            raise InvalidEvent(f"attributes {', '.join(REQUIRED)} must be strings")
        too_long = [name for name in ("type", "source", "subject") if len(text[name]) > MAX_ATTRIBUTE_LENGTH]
        if too_long:
            raise InvalidEvent(f"attributes longer than {MAX_ATTRIBUTE_LENGTH} characters: {', '.join(too_long)}")
        try:
            for name in ("id", "userid"):
                canonical_uuid(text[name])  # raises ValueError for what is not a UUID
            when = datetime.fromisoformat(text["time"].replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidEvent(f"malformed attribute: {exc}") from None
        if when.tzinfo is None:
            raise InvalidEvent("time has no UTC offset (RFC 3339 requires one)")
        data = doc.get("data", {})
        if not isinstance(data, dict):
            raise InvalidEvent("data must be a JSON object")
        extensions = {
            name: value
            for name, value in doc.items()
            if name not in ATTRIBUTES and isinstance(value, str) and EXTENSION_NAME.match(name)
        }
        event = cls(
            **text,
            data=data,
            datacontenttype=doc.get("datacontenttype") or "application/json",
            extensions=extensions,
        )
        # What validating parsed already, kept (consumers read it for every event).
        event.__dict__["timestamp"] = when
        return event

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
