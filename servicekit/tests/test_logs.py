import json
import logging

from servicekit.logs import JSONFormatter, TextFormatter


def record(message, *args, **extra):
    rec = logging.LogRecord("servicekit.consumer", logging.INFO, __file__, 1, message, args, None)
    rec.__dict__.update(extra)
    return rec


def test_text_lines_are_timestamp_level_message():
    line = TextFormatter(service="consumer_service").format(record("note.created user=%s", "u1", offset=42))
    stamp, level, message = line.split(" ", 2)
    assert stamp.endswith("Z") and "T" in stamp
    assert (level, message) == ("INFO", "note.created user=u1")


def test_json_lines_carry_the_extras():
    doc = json.loads(
        JSONFormatter(service="consumer_service").format(record("x", event_type="note.created", offset=42))
    )
    assert doc["service"] == "consumer_service" and doc["level"] == "INFO" and doc["message"] == "x"
    assert doc["event_type"] == "note.created" and doc["offset"] == 42 and doc["time"].endswith("Z")
