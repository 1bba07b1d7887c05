"""Checks of emitted events against the producing service's declared contract."""

from __future__ import annotations

from typing import Any

from jsonschema import Draft202012Validator

from servicekit.events import EventEnvelope, EventType
from servicekit.kafka import published_topics


def declared_type(name: str) -> EventType:
    """The event type ``name`` as this service declares it; AssertionError if it does not."""
    for topic in published_topics():
        if name in topic.types:
            return topic.types[name]
    raise AssertionError(f"{name} is not declared by this service's contract")


def assert_matches_contract(doc: dict[str, Any], *, key: str | None = None, topic: str | None = None) -> None:
    """``doc`` is a valid envelope of a declared type, on its topic and key, whose ``data``
    satisfies the type's JSON Schema (formats such as uuid and date-time included) and
    carries exactly its declared fields: whatever an event tells its consumers is in the
    contract (data minimisation), never an undeclared extra."""
    envelope = EventEnvelope.from_dict(doc)
    declared = declared_type(envelope.type)
    if topic is not None:
        assert topic == declared.topic.name, f"{envelope.type} on {topic}, declared on {declared.topic.name}"
    if key is not None:
        assert key == envelope.subject, "the message key is the event's subject"
    validator = Draft202012Validator(dict(declared.data), format_checker=Draft202012Validator.FORMAT_CHECKER)
    errors = sorted(validator.iter_errors(envelope.data), key=lambda e: list(e.path))
    assert not errors, f"{envelope.type} data breaks its schema: " + "; ".join(e.message for e in errors)
    undeclared = set(envelope.data) - set(declared.data.get("properties", {}))
    assert not undeclared, f"{envelope.type} data carries undeclared fields: {', '.join(sorted(undeclared))}"
