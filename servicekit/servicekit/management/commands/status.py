"""``manage.py status``: this service's readiness, outbox backlog, consumer lag and dead letters."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from servicekit.management.base import HeadlessCommand
from servicekit.ops.status import MAX_LAG, MAX_PENDING_AGE_SECONDS, service_status


def status_line(doc: dict[str, Any]) -> str:
    """``post_service ready outbox=0/0 lag user_events=0 dead_letters=0: ok``."""
    parts = [doc["service"]]
    if "ready" in doc:
        parts.append("ready" if doc["ready"] else "NOT READY")
    outbox = doc.get("outbox")
    if outbox:
        oldest = outbox["oldest_pending_seconds"]
        parts.append(f"outbox pending={outbox['pending']} parked={outbox['parked']}"
                     f" oldest={'-' if oldest is None else f'{oldest:.0f}s'}")  # fmt: skip
    consumer = doc.get("consumer")
    if consumer:
        lag = " ".join(f"{topic}={n}" for topic, n in consumer.get("lag", {}).items())
        parts.append(f"group {consumer['group']} {consumer.get('state', '?')} lag {lag or '?'}"
                     f" dead_letters={consumer.get('dead_letters', '?')}")  # fmt: skip
    problems = doc["problems"]
    return " ".join(parts) + (": ok" if not problems else ": UNHEALTHY: " + "; ".join(problems))


class Command(HeadlessCommand):
    help = (
        "This service's health: readiness (with --ready-url), the outbox's pending and parked rows and the age of "
        "the oldest pending one, the consumer group's state and lag per topic (against the real end of each "
        "partition), and its pending dead letters. Exits 1 when something is unhealthy. `make status` shows every "
        "service in one table. Examples: `manage.py status`, "
        "`manage.py status --ready-url http://127.0.0.1:8002/readyz --json`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--ready-url", help="this service's /readyz, to check that its web server answers")
        parser.add_argument("--max-lag", type=int, default=MAX_LAG,
                            help=f"events a group may be behind and still be healthy (default {MAX_LAG})")  # fmt: skip
        parser.add_argument("--max-age", type=float, default=MAX_PENDING_AGE_SECONDS,
                            help="seconds the oldest pending outbox row may wait (default "
                                 f"{MAX_PENDING_AGE_SECONDS:.0f})")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="one JSON object")

    def handle(self, *args: Any, ready_url: str | None, max_lag: int, max_age: float, **options: Any) -> None:
        doc = service_status(ready_url=ready_url, max_lag=max_lag, max_age=max_age)
        self.stdout.write(json.dumps(doc) if options["json"] else status_line(doc))
        if doc["problems"]:
            raise CommandError(f"{doc['service']} is unhealthy", returncode=1)
