"""One readable line per event, and the command-line values operators type (times, positions)."""

from __future__ import annotations

import argparse
import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from servicekit.events import EventEnvelope, InvalidEvent
from servicekit.topics import ReadMessage

#: Longest data summary on a line, and longest value in it.
SUMMARY_CHARS = 100
VALUE_CHARS = 40
_AGE = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_time(text: str) -> datetime:
    """An ISO 8601 time (``2026-11-22T01:00:00Z``; UTC without an offset) or an age before
    now (``90s``, ``15m``, ``2h``, ``7d``). For argparse: raises ArgumentTypeError."""
    match = _AGE.match(text.strip())
    if match:
        return datetime.now(UTC) - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (ISO 8601 like 2026-11-22T01:00:00Z, or 15m, 2h, 7d)"
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def iso(when: datetime | None) -> str:
    if when is None:
        return "-"
    return when.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def age(when: datetime | None, now: datetime | None = None) -> str:
    """``42s``, ``5m``, ``3h``, ``2d``: how long ago."""
    if when is None:
        return "-"
    seconds = max(0, int(((now or datetime.now(UTC)) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_event(message: ReadMessage) -> EventEnvelope | InvalidEvent:
    try:
        return EventEnvelope.from_json(message.value)
    except InvalidEvent as exc:
        return exc


def data_summary(event: EventEnvelope) -> str:
    """``title="Hello" description="My first post"``: the data fields other than the ids
    the line shows already, each value and the whole cut short."""
    parts = []
    for name, value in event.data.items():
        if value in (event.subject, event.userid) or name.endswith("_at"):
            continue
        text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else json.dumps(value[:VALUE_CHARS])
        if isinstance(value, str) and len(value) > VALUE_CHARS:
            text = text[:-1] + '..."'
        parts.append(f"{name}={text}")
    summary = " ".join(parts)
    return summary if len(summary) <= SUMMARY_CHARS else summary[: SUMMARY_CHARS - 3] + "..."


def event_line(message: ReadMessage, parsed: EventEnvelope | InvalidEvent) -> str:
    """``<time> <topic>[<p>]@<offset> <type> key=<key> user=<user> <data summary>``."""
    where = message.where
    if isinstance(parsed, InvalidEvent):
        return f"{iso(message.time)} {where} INVALID key={message.key or '-'} {parsed} value={_value_excerpt(message)}"
    fields = [iso(parsed.timestamp), where, parsed.type, f"key={message.key or '-'}"]
    if parsed.subject != message.key:
        fields.append(f"subject={parsed.subject}")
    fields.append(f"user={parsed.userid}")
    summary = data_summary(parsed)
    if summary:
        fields.append(summary)
    error = message.headers.get("dlq.error")
    if error:
        fields.append(f"dlq.error={json.dumps(error.decode(errors='replace')[:200])}")
    return " ".join(fields)


def _value_excerpt(message: ReadMessage) -> str:
    if message.value is None:
        return "(none)"
    text = message.value[:60].decode(errors="replace")
    return json.dumps(text + ("..." if len(message.value) > 60 else ""))


def event_json(message: ReadMessage, parsed: EventEnvelope | InvalidEvent) -> dict[str, Any]:
    """The message for machines: where it is, its key and headers, and the full CloudEvent
    (``event``; null, with ``error`` and the raw ``value``, for a value that is none)."""
    doc: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "timestamp": iso(message.time) if message.time else None,
        "key": message.key,
        "headers": {name: value.decode(errors="replace") for name, value in message.headers.items()},
    }
    if isinstance(parsed, InvalidEvent):
        return {**doc, "event": None, "error": str(parsed), "value": (message.value or b"").decode(errors="replace")}
    return {**doc, "event": parsed.to_dict()}
