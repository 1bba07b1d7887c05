"""One service's health as an operator sees it: readiness, outbox backlog, consumer lag and
dead letters, with what is wrong said in words (``manage.py status``; ``make status``
gathers every service's into one table)."""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

from django.apps import apps
from django.conf import settings
from django.db import DatabaseError, connection
from django.utils import timezone

from servicekit.kafka import event_handlers
from servicekit.topics import TopicError, group_is_active, group_lag, group_state

#: What counts as unhealthy unless the caller says otherwise.
MAX_LAG = 1000
MAX_PENDING_AGE_SECONDS = 60.0


def readiness(url: str) -> str | None:
    """None if ``url`` (the service's ``/readyz``) answers 200, else what it said."""
    host = next((h.lstrip("*.") for h in settings.ALLOWED_HOSTS if h.lstrip("*.")), "localhost")
    request = urllib.request.Request(url, headers={"Host": host})  # noqa: S310 - an operator's own URL
    try:
        with urllib.request.urlopen(request, timeout=5):  # noqa: S310
            return None
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except OSError as exc:
        return f"{url} does not answer ({getattr(exc, 'reason', exc)})"


def service_status(*, ready_url: str | None = None, max_lag: int = MAX_LAG,
                   max_age: float = MAX_PENDING_AGE_SECONDS) -> dict[str, Any]:  # fmt: skip
    """The figures, and ``problems``: one sentence each, empty when all is well."""
    doc: dict[str, Any] = {"service": settings.SERVICE_NAME, "problems": []}
    problems = doc["problems"]
    if ready_url is not None:
        why = readiness(ready_url)
        doc["ready"] = why is None
        if why:
            problems.append(f"not ready: {why}")
    if apps.is_installed("servicekit.outbox"):
        doc["outbox"] = _outbox(problems, max_age)
    handlers = event_handlers()
    if handlers is not None:
        doc["consumer"] = _consumer(handlers, problems, max_lag)
    return doc


def _outbox(problems: list[str], max_age: float) -> dict[str, Any] | None:
    from servicekit.outbox.models import OutboxEvent

    try:
        pending = OutboxEvent.objects.filter(parked_at__isnull=True)
        oldest = pending.order_by("id").values_list("created_at", flat=True).first()
        figures = {
            "pending": pending.count(),
            "parked": OutboxEvent.objects.filter(parked_at__isnull=False).count(),
            "oldest_pending_seconds": round((timezone.now() - oldest).total_seconds(), 1) if oldest else None,
        }
    except DatabaseError as exc:
        problems.append(f"database unavailable: {str(exc).strip().splitlines()[0]}")
        connection.close()
        return None
    if figures["parked"]:
        problems.append(f"{figures['parked']} parked outbox row(s): manage.py outbox list --parked")
    if figures["oldest_pending_seconds"] is not None and figures["oldest_pending_seconds"] > max_age:
        problems.append(f"the oldest pending outbox row waits for {figures['oldest_pending_seconds']:.0f}s "
                        "(is the relay running? is the broker up?)")  # fmt: skip
    return figures


def _consumer(handlers: Any, problems: list[str], max_lag: int) -> dict[str, Any]:
    from servicekit.ops.deadletters import load

    figures: dict[str, Any] = {"group": handlers.group}
    try:
        figures["state"] = group_state(handlers.group)
        lags = group_lag(handlers.group, handlers.topics)
        figures["lag"] = {topic: sum(lag.lag for lag in lags if lag.topic == topic) for topic in handlers.topics}
        figures["dead_letters"] = len(load(handlers.group).pending)
    except TopicError as exc:
        problems.append(str(exc))
        return figures
    if not group_is_active(figures["state"]):
        problems.append(f"no consumer in group {handlers.group} (is consume_events running?)")
    behind = sum(figures["lag"].values())
    if behind > max_lag:
        problems.append(f"group {handlers.group} is {behind} events behind")
    if figures["dead_letters"]:
        problems.append(f"{figures['dead_letters']} dead letter(s) pending: manage.py dead_letters list")
    return figures
