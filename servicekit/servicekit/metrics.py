"""Prometheus metrics (prometheus-client): the web server's, and the workers'.

Web servers. :class:`MetricsMiddleware`, first in ``MIDDLEWARE`` (with ``METRICS_ENABLED``),
counts and times every request by view (the URL pattern's name, never the raw path: the
number of series stays bounded), method and status, counts its database statements, and
answers ``GET /metrics`` itself. gunicorn runs several worker processes: its configuration
(servicekit.gunicorn_conf) gives them a ``PROMETHEUS_MULTIPROC_DIR``, where each keeps its
figures in memory-mapped files, and ``/metrics`` adds up those of every worker. When
``METRICS_TOKEN`` is set, ``/metrics`` answers only ``Authorization: Bearer <token>``.

Workers. ``run_workers`` (and ``relay_outbox``, ``consume_events``) serve their metrics on
``METRICS_PORT`` (``METRICS_ADDRESS``, 127.0.0.1 by default). The relay and the consumer
update their counters once per batch; the figures that cost a query (the outbox backlog,
the consumer group's lag) are computed when Prometheus scrapes, at most every
``METRICS_REFRESH_SECONDS``, in the scraping thread: never in the loops.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import threading
import time
from collections import Counter as Tally
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils import timezone
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

log = logging.getLogger("servicekit.metrics")

#: The path the middleware answers; the gateway routes only services.toml's paths, never it.
METRICS_PATH = "/metrics"
#: The ``view`` of a request no URL pattern matched (a 404, a static file, a 413 before routing).
UNRESOLVED = "unresolved"
#: Methods counted by name; anything else a client sends is ``other`` (bounded labels).
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

#: Seconds: from a millisecond to the gateway's upstream timeout.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 35.0)
#: Seconds an event takes to travel: from milliseconds to a backlog of minutes.
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)
BATCH_SIZE_BUCKETS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)

# -- the web server --------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests answered, by view, method and status.", ["view", "method", "status"]
)
HTTP_DURATION = Histogram(
    "http_request_duration_seconds",
    "Time to answer an HTTP request, middleware included, by view and method.",
    ["view", "method"],
    buckets=LATENCY_BUCKETS,
)
DB_QUERIES = Counter("db_queries_total", "Database statements run while answering requests, by view.", ["view"])


class _StatementCount:
    """A database execute wrapper that counts the statements of one request."""

    __slots__ = ("count",)

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute: Callable, sql: str, params: Any, many: bool, context: dict) -> Any:
        self.count += 1
        return execute(sql, params, many, context)


def view_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return match.view_name if match is not None else UNRESOLVED


class MetricsMiddleware:
    """Counts and times every request, and answers ``/metrics`` (see the module docstring).

    ``/metrics`` is answered before the rest of the middleware, Django's host check included:
    Prometheus names a container by its address, which ``ALLOWED_HOSTS`` need not list, and
    the answer builds no URL from the ``Host`` header.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.token = settings.METRICS["TOKEN"].encode()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == METRICS_PATH:
            return self.serve(request)
        statements = _StatementCount()
        started = time.perf_counter()
        with connection.execute_wrapper(statements):
            response = self.get_response(request)
        elapsed = time.perf_counter() - started
        view = view_label(request)
        method = request.method if request.method in METHODS else "other"
        HTTP_REQUESTS.labels(view, method, str(response.status_code)).inc()
        HTTP_DURATION.labels(view, method).observe(elapsed)
        if statements.count:
            DB_QUERIES.labels(view).inc(statements.count)
        return response

    def serve(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return JsonResponse({"detail": f'Method "{request.method}" not allowed.'}, status=405)
        if self.token:
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            if scheme.lower() != "bearer" or not presented:
                response = JsonResponse({"detail": "Authentication credentials were not provided."}, status=401)
                response["WWW-Authenticate"] = 'Bearer realm="metrics"'
                return response
            if not hmac.compare_digest(presented.strip().encode(), self.token):
                return JsonResponse({"detail": "Invalid metrics token."}, status=403)
        response = HttpResponse(generate_latest(web_registry()), content_type=CONTENT_TYPE_LATEST)
        response["Cache-Control"] = "no-store"
        return response


def web_registry() -> CollectorRegistry:
    """Every gunicorn worker's figures (multiprocess mode), else this process's own."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return registry


# -- the workers -----------------------------------------------------------------------------


class _Cached:
    """A figure that costs a query, recomputed at most every ``METRICS_REFRESH_SECONDS``."""

    def __init__(self, compute: Callable[[], Any]) -> None:
        self.compute = compute
        self._lock = threading.Lock()
        self._value: Any = None
        self._at = float("-inf")

    def get(self) -> Any:
        with self._lock:  # scrapes may come in parallel: one computes, the other waits
            if time.monotonic() - self._at >= settings.METRICS["REFRESH_SECONDS"]:
                self._value, self._at = self.compute(), time.monotonic()
            return self._value

    def clear(self) -> None:
        with self._lock:
            self._at = float("-inf")


class OutboxBacklog(Collector):
    """``outbox_pending_rows``, ``outbox_parked_rows`` and ``outbox_oldest_pending_age_seconds``,
    from the database at scrape time.

    On PostgreSQL the count starts at the relay's claim floor (every row below it is
    published, parked or waiting behind a parked row of its key), through the primary key,
    as a claim does: its cost is that of what is pending, not of every row the table ever
    held (servicekit.outbox.relay, "Cost"). On SQLite it reads without a transaction: every
    transaction there takes the write lock (``transaction_mode`` IMMEDIATE).
    """

    def __init__(self) -> None:
        self.floor: Callable[[], int] = lambda: 0
        self._figures = _Cached(self._query)

    def _query(self) -> tuple[int, int, float] | None:
        from servicekit.outbox.models import OutboxEvent
        from servicekit.outbox.relay import QUEUE_PLAN

        own_connection = not connection.in_atomic_block  # the scraping thread's, not a caller's
        postgresql = connection.vendor == "postgresql"
        try:
            with transaction.atomic() if postgresql else contextlib.nullcontext():
                if postgresql:  # the plan settings are the transaction's (SET LOCAL)
                    with connection.cursor() as cursor:
                        cursor.execute(QUEUE_PLAN)
                pending = OutboxEvent.objects.filter(id__gte=self.floor(), parked_at__isnull=True)
                count = pending.count()
                oldest = pending.order_by("id").values_list("created_at", flat=True).first()
                parked = OutboxEvent.objects.filter(parked_at__isnull=False).count()
        except DatabaseError as exc:
            log.warning("metrics: outbox backlog unavailable (%s)", exc)
            return None
        finally:
            if own_connection:
                connection.close()  # not kept open between scrapes
        age = (timezone.now() - oldest).total_seconds() if oldest is not None else 0.0
        return count, parked, max(0.0, age)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        figures = self._figures.get()
        if figures is None:
            return
        pending, parked, age = figures
        yield GaugeMetricFamily("outbox_pending_rows", "Outbox rows waiting to be published.", value=pending)
        yield GaugeMetricFamily("outbox_parked_rows", "Outbox rows the broker refused for good.", value=parked)
        yield GaugeMetricFamily(
            "outbox_oldest_pending_age_seconds", "Age of the oldest pending outbox row (0: none).", value=age
        )


class RelayMetrics:
    """What an outbox relay reports: one instance per process (:func:`relay_metrics`)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.published = Counter("outbox_events_published_total", "Events the broker acknowledged.",
                                 registry=registry)  # fmt: skip
        self.failures = Counter("outbox_publish_failures_total",
                                "Publish attempts the broker did not acknowledge (parked ones included).",
                                registry=registry)  # fmt: skip
        self.parked = Counter("outbox_events_parked_total", "Events parked: the broker refuses them for good.",
                              registry=registry)  # fmt: skip
        self.latency = Histogram(
            "outbox_publish_latency_seconds",
            "From the outbox row's insert (its transaction's commit) to the broker's acknowledgement.",
            buckets=LAG_BUCKETS,
            registry=registry,
        )
        self.backlog = OutboxBacklog()
        registry.register(self.backlog)

    def batch(self, created: Iterable[datetime], *, failed: int, parked: int) -> None:
        """One relay batch: ``created`` the creation times of the acknowledged rows; ``failed``
        the attempts that failed, ``parked`` those of them that will never be retried."""
        now = timezone.now()
        published = 0
        for when in created:
            published += 1
            when = when if when.tzinfo is not None else when.replace(tzinfo=UTC)  # SQLite's are naive
            self.latency.observe(max(0.0, (now - when).total_seconds()))
        if published:
            self.published.inc(published)
        if failed:
            self.failures.inc(failed)
        if parked:
            self.parked.inc(parked)


class ConsumerLag(Collector):
    """``consumer_lag_messages{topic,partition}``: the group's committed offsets against the
    partitions' real ends (servicekit.topics.group_lag, right on the embedded broker too,
    whose high watermark can be stale), computed at scrape time."""

    def __init__(self) -> None:
        self.group: str | None = None
        self.topics: list[str] = []
        self._reader = None
        self._figures = _Cached(self._query)

    def watch(self, group: str | None, topics: list[str]) -> None:
        """The group and topics of the consumer running in this process (None: none runs)."""
        self.group, self.topics = group, topics
        self._figures.clear()

    def _query(self) -> list[Any] | None:
        from servicekit.topics import group_lag, reader

        if self.group is None:
            return None
        try:
            self._reader = self._reader or reader()
            return group_lag(self.group, self.topics, consumer=self._reader)
        except Exception as exc:  # noqa: BLE001 - TopicError, a broker away: no figure, not a failed scrape
            log.warning("metrics: consumer lag unavailable (%s)", exc)
            return None

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lags = self._figures.get() if self.group is not None else None
        if lags is None:
            return
        family = GaugeMetricFamily("consumer_lag_messages", "Events of a partition the group has not committed yet.",
                                   labels=["topic", "partition"])  # fmt: skip
        for lag in lags:
            family.add_metric([lag.topic, str(lag.partition)], lag.lag)
        yield family


class ConsumerMetrics:
    """What an event consumer reports: one instance per process (:func:`consumer_metrics`)."""

    def __init__(self, registry: CollectorRegistry = REGISTRY) -> None:
        self.applied = Counter("consumer_events_applied_total", "Events applied (their handlers ran).",
                               ["topic", "type"], registry=registry)  # fmt: skip
        self.duplicates = Counter("consumer_duplicates_total", "Events received again and skipped (already applied).",
                                  ["topic"], registry=registry)  # fmt: skip
        self.dead_lettered = Counter("consumer_dead_lettered_total", "Messages sent to the dead-letter topic.",
                                     ["topic"], registry=registry)  # fmt: skip
        self.batch_size = Histogram("consumer_batch_size", "Messages handled in one batch.",
                                    buckets=BATCH_SIZE_BUCKETS, registry=registry)  # fmt: skip
        self.batch_duration = Histogram("consumer_batch_duration_seconds", "Time to handle one batch, commit included.",
                                        buckets=LATENCY_BUCKETS, registry=registry)  # fmt: skip
        self.end_to_end = Histogram("consumer_end_to_end_lag_seconds", "From the event's time to its being applied.",
                                    buckets=LAG_BUCKETS, registry=registry)  # fmt: skip
        self.lag = ConsumerLag()
        registry.register(self.lag)

    def events(self, applied: Tally[tuple[str, str]], duplicates: Tally[str], lags: Iterable[float]) -> None:
        """The events of one batch: applied by (topic, type), duplicates by topic, and the
        end-to-end lag of each applied one."""
        for (topic, event_type), count in applied.items():
            self.applied.labels(topic, event_type).inc(count)
        for topic, count in duplicates.items():
            self.duplicates.labels(topic).inc(count)
        for seconds in lags:
            self.end_to_end.observe(seconds)


@cache
def relay_metrics() -> RelayMetrics:
    return RelayMetrics()


@cache
def consumer_metrics() -> ConsumerMetrics:
    return ConsumerMetrics()


def serve_worker_metrics() -> tuple[str, int] | None:
    """Serves this process's metrics on ``METRICS_ADDRESS:METRICS_PORT`` (a thread), if a
    port is set and metrics are on. Returns the address served."""
    conf = settings.METRICS
    if not conf["ENABLED"] or not conf["PORT"]:
        return None
    server, _thread = start_http_server(conf["PORT"], addr=conf["ADDRESS"])
    host, port = server.server_address[:2]
    log.info("metrics on http://%s:%d%s", host, port, METRICS_PATH)
    return host, port
