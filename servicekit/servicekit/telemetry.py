"""Metrics and traces of a process, started once where it starts (servicekit.entrypoints
for the web server, the worker commands for theirs). See servicekit.metrics and
servicekit.tracing; neither is imported here unless it is on."""

from __future__ import annotations

from django.conf import settings
from django.core.management.base import CommandError

from servicekit import tracing


def start_web_telemetry() -> None:
    """Tracing of the web server (its metrics are the middleware's, served on /metrics)."""
    tracing.configure(service=settings.SERVICE_NAME, web=True)


def start_worker_telemetry() -> None:
    """Tracing of a worker process, and its metrics endpoint on ``METRICS_PORT`` if set."""
    tracing.configure(service=settings.SERVICE_NAME, web=False)
    if not settings.METRICS["ENABLED"] or not settings.METRICS["PORT"]:
        return
    from servicekit.metrics import serve_worker_metrics

    try:
        serve_worker_metrics()
    except OSError as exc:
        conf = settings.METRICS
        raise CommandError(f"cannot serve metrics on {conf['ADDRESS']}:{conf['PORT']} (METRICS_PORT): {exc}") from None
