"""``manage.py tail_events TOPIC``: follow a topic, one readable line per event."""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from typing import Any

from django.core.management.base import CommandError, CommandParser

from servicekit.events import InvalidEvent
from servicekit.management.base import HeadlessCommand
from servicekit.ops.lines import event_json, event_line, parse_event, parse_time
from servicekit.shutdown import StopFlag
from servicekit.topics import Start, TopicError, read


def start_arg(text: str) -> Start:
    """``now``, ``beginning``, an offset, or a time (ISO 8601, or an age: ``15m``)."""
    if text == "now":
        return Start.end()
    if text == "beginning":
        return Start.beginning()
    if text.isdigit():
        return Start.at_offset(int(text))
    return Start.at_time(parse_time(text))


class Command(HeadlessCommand):
    help = (
        "Print the events of a topic, one line each (time, position, type, key, user, a short data summary), "
        "from now on, or from the beginning, an offset or a time. Joins no consumer group and commits nothing. "
        "Examples: `manage.py tail_events post_events`, "
        "`manage.py tail_events note_events --from beginning --no-follow --type 'note.*'`, "
        "`manage.py tail_events user_events --from 2h --user 5212b593-bbc9-44e9-bd31-302517558ce0 --json`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("topic", help="the topic to read (an event topic or a dead-letter topic)")
        parser.add_argument("--from", dest="start", type=start_arg, default=Start.end(), metavar="WHERE",
                            help="now (default), beginning, an offset (of --partition, or of every partition), "
                                 "or a time: ISO 8601 (2026-11-22T01:00:00Z) or an age (90s, 15m, 2h, 7d)")  # fmt: skip
        parser.add_argument("--partition", type=int, action="append", help="only this partition (repeatable)")
        parser.add_argument("--follow", action=argparse.BooleanOptionalAction, default=True,
                            help="wait for new events (default); --no-follow: stop at the current end")  # fmt: skip
        parser.add_argument("--type", action="append", default=[], metavar="TYPE",
                            help="only events of this type; shell patterns work: 'post.*' (repeatable)")  # fmt: skip
        parser.add_argument("--user", help="only events of this user id (the CloudEvent's userid)")
        parser.add_argument("--limit", type=int, help="stop after this many events")
        parser.add_argument("--json", action="store_true",
                            help="one JSON object per message: position, key, headers, CloudEvent")  # fmt: skip

    def handle(self, *args: Any, topic: str, start: Start, partition: list[int] | None, follow: bool,
               type: list[str], user: str | None, limit: int | None, **options: Any) -> None:  # fmt: skip
        as_json = options["json"]
        stop = StopFlag().install()
        printed = 0
        errors = self.stderr

        def wanted(parsed: Any) -> bool:
            if isinstance(parsed, InvalidEvent):
                return not (type or user)
            if type and not any(fnmatch.fnmatchcase(parsed.type, pattern) for pattern in type):
                return False
            return user is None or parsed.userid == user

        try:
            messages = read(topic, start=start, partitions=partition, follow=follow, should_stop=stop,
                            on_error=lambda text: errors.write(f"tail_events: {text} (still trying)"))  # fmt: skip
            for message in messages:
                parsed = parse_event(message)
                if not wanted(parsed):
                    continue
                line = (
                    json.dumps(event_json(message, parsed), ensure_ascii=False)
                    if as_json
                    else event_line(message, parsed)
                )
                self.stdout.write(line)
                self.stdout.flush()
                printed += 1
                if limit is not None and printed >= limit:
                    break
        except TopicError as exc:
            raise CommandError(str(exc)) from None
        except BrokenPipeError:  # piped into head, say
            sys.stderr.close()
