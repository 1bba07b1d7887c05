"""Log formatters: one readable line per record by default, JSON lines with LOG_FORMAT=json.

With tracing on (servicekit.tracing), a record logged inside a span carries its trace:
``trace_id=... span_id=...`` at the end of the line, ``trace_id`` and ``span_id`` fields in JSON.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

from servicekit import tracing

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is shown.
_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _timestamp(record: logging.LogRecord) -> str:
    return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _extras(record: logging.LogRecord) -> dict[str, object]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    """``2026-11-22T10:00:00.123Z INFO post_service message``, then any traceback."""

    def __init__(self, service: str = "", **kwargs: object) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.getMessage()}"
        if tracing.ENABLED and (trace := tracing.log_context()):
            line += f" trace_id={trace['trace_id']} span_id={trace['span_id']}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class JSONFormatter(logging.Formatter):
    """One JSON object per line: time, level, service, logger, message and any extras."""

    def __init__(self, service: str = "", **kwargs: object) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": _timestamp(record),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **_extras(record),
            **(tracing.log_context() if tracing.ENABLED else {}),
        }
        if record.exc_info:
            doc["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)
