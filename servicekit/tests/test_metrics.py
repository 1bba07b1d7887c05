"""Prometheus metrics (servicekit.metrics): the web server's /metrics, who may read it, and
what the relay and the consumer report."""

import http.client
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.test import Client
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families
from test_consumer import DeadLetters, OffsetRecorder
from test_relay import FakeProducer
from widgets.models import Applied

from servicekit.consumer import EventConsumer
from servicekit.outbox.relay import OutboxRelay
from servicekit.settings import build_settings
from servicekit.testkit.kafka import FakeMessage, make_event, produce_raw
from servicekit.testkit.service import gunicorn_serving, manage_py
from servicekit.testkit.tokens import mint_access_token
from servicekit.topics import partition_bounds, topic_partitions

TOPIC = "widget_events"
SERVICE_DIR = Path(__file__).parent / "project"
# A scrape reads the outbox backlog from the database once a relay has run in this process.
pytestmark = pytest.mark.django_db


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """``(name, sorted labels) -> value`` of every sample of a Prometheus text answer."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    """A sample of this process's registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


@pytest.fixture
def refresh_every_scrape(settings):
    settings.METRICS = {**settings.METRICS, "REFRESH_SECONDS": 0}


# -- the web server ----------------------------------------------------------------------------


def test_requests_are_counted_by_view_method_and_status_never_by_path(client):
    def requests(view, method, status):
        return value("http_requests_total", view=view, method=method, status=status)

    before = (requests("healthz", "GET", "200"), requests("unresolved", "GET", "404"), requests("readyz", "GET", "200"))
    duration_before = value("http_request_duration_seconds_count", view="healthz", method="GET")
    queries_before = value("db_queries_total", view="readyz")
    client.get("/healthz")
    client.get("/healthz")
    client.get(f"/no/such/page/{uuid.uuid4()}")
    client.get("/readyz")
    after = (requests("healthz", "GET", "200"), requests("unresolved", "GET", "404"), requests("readyz", "GET", "200"))
    assert [a - b for a, b in zip(after, before, strict=True)] == [2, 1, 1]
    assert value("http_request_duration_seconds_count", view="healthz", method="GET") - duration_before == 2
    assert value("db_queries_total", view="readyz") - queries_before == 1  # its SELECT 1

    body = client.get("/metrics").content.decode()
    assert "/no/such/page" not in body
    assert samples(body)[("http_requests_total", (("method", "GET"), ("status", "200"), ("view", "healthz")))] >= 2


def test_a_method_no_client_should_use_is_counted_as_other(client):
    before = value("http_requests_total", view="healthz", method="other", status="200")
    client.generic("BREW", "/healthz")
    assert value("http_requests_total", view="healthz", method="other", status="200") - before == 1


def test_metrics_answers_the_prometheus_text_format_without_a_token_by_default(client):
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert "# TYPE http_requests_total counter" in response.content.decode()
    assert client.post("/metrics").status_code == 405


def test_with_a_token_metrics_answers_only_the_bearer_of_that_token(settings):
    settings.METRICS = {**settings.METRICS, "TOKEN": "s3cret-metrics-token"}
    client = Client()  # a new handler: the middleware reads the token when it is built
    missing = client.get("/metrics")
    assert missing.status_code == 401 and missing["WWW-Authenticate"].startswith("Bearer")
    assert missing.json() == {"detail": "Authentication credentials were not provided."}
    wrong = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-tokeN"})
    assert wrong.status_code == 403 and wrong.json() == {"detail": "Invalid metrics token."}
    assert client.get("/metrics", headers={"Authorization": "Basic s3cret-metrics-token"}).status_code == 401
    right = client.get("/metrics", headers={"Authorization": "Bearer s3cret-metrics-token"})
    assert right.status_code == 200 and b"http_requests_total" in right.content


def test_metrics_answers_whatever_host_prometheus_names_the_container_by(client):
    # ALLOWED_HOSTS does not list "post-service:8000"; the API still refuses it.
    assert client.get("/metrics", headers={"Host": "post-service:8000"}).status_code == 200
    assert client.get("/healthz", headers={"Host": "post-service:8000"}).status_code == 400


def test_metrics_enabled_false_leaves_the_middleware_out(monkeypatch):
    def middleware():
        built = build_settings(service="x", base_dir=SERVICE_DIR, apps=[], jwt_role=_role(), title="x")
        return built["MIDDLEWARE"]

    assert middleware()[0] == "servicekit.metrics.MetricsMiddleware"
    monkeypatch.setenv("METRICS_ENABLED", "false")
    assert "servicekit.metrics.MetricsMiddleware" not in middleware()


def _role():
    from servicekit.jwt import JWTRole

    return JWTRole.VERIFIER


@pytest.mark.django_db(transaction=True)
def test_under_gunicorn_metrics_adds_up_the_figures_of_every_worker():
    auth = {"Authorization": f"Bearer {mint_access_token(uuid.uuid4())}", "Host": "localhost"}

    def get(address, path, headers):
        connection = http.client.HTTPConnection(*address, timeout=10)
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, response.read().decode()

    with gunicorn_serving(env={"WEB_CONCURRENCY": "2"}) as address:
        for _ in range(20):  # new connections: gunicorn's sync workers take them in turn
            assert get(address, "/api/widgets/", auth)[0] == 200
        status, body = get(address, "/metrics", {})
    assert status == 200
    figures = samples(body)
    key = ("http_requests_total", (("method", "GET"), ("status", "200"), ("view", "widget-list")))
    assert figures[key] == 20
    assert figures[("db_queries_total", (("view", "widget-list"),))] >= 20


def test_a_placeholder_metrics_token_stops_the_service(settings):
    from servicekit.checks import check_secrets

    settings.METRICS = {**settings.METRICS, "TOKEN": "change-me-metrics-token"}
    assert "servicekit.E006" in [problem.id for problem in check_secrets()]


# -- the relay ---------------------------------------------------------------------------------


def test_the_relay_counts_what_it_publishes_its_latency_and_the_backlog(make_widgets, refresh_every_scrape):
    published, latency = value("outbox_events_published_total"), value("outbox_publish_latency_seconds_count")
    relay = OutboxRelay(producer=FakeProducer())
    make_widgets(3)
    assert value("outbox_pending_rows") == 3
    assert value("outbox_oldest_pending_age_seconds") >= 0
    assert relay.relay_batch() == (3, 0)
    assert value("outbox_events_published_total") - published == 3
    assert value("outbox_publish_latency_seconds_count") - latency == 3
    assert value("outbox_pending_rows") == 0
    assert value("outbox_oldest_pending_age_seconds") == 0


def test_the_relay_counts_failures_and_parked_events(make_widgets, refresh_every_scrape):
    from confluent_kafka import KafkaError

    failures, parked = value("outbox_publish_failures_total"), value("outbox_events_parked_total")
    widgets = make_widgets(2, title="refused")
    relay = OutboxRelay(producer=FakeProducer(fail=("refused",), error=KafkaError.MSG_SIZE_TOO_LARGE))
    relay._replace_producer = lambda: None
    relay._ensure_topics = lambda: None
    assert relay.relay_batch() == (0, 2)
    assert value("outbox_publish_failures_total") - failures == 2
    assert value("outbox_events_parked_total") - parked == 2
    assert value("outbox_parked_rows") == len(widgets)
    assert value("outbox_pending_rows") == 0


# -- the consumer ------------------------------------------------------------------------------


def test_the_consumer_counts_applied_duplicates_dead_letters_batches_and_lag():
    def applied(event_type):
        return value("consumer_events_applied_total", topic=TOPIC, type=event_type)

    before = {
        "created": applied("widget.created"),
        "updated": applied("widget.updated"),
        "duplicates": value("consumer_duplicates_total", topic=TOPIC),
        "dead": value("consumer_dead_lettered_total", topic=TOPIC),
        "batches": value("consumer_batch_size_count"),
        "batched": value("consumer_batch_size_sum"),
        "durations": value("consumer_batch_duration_seconds_count"),
        "lags": value("consumer_end_to_end_lag_seconds_count"),
    }
    created, updated = make_event("widget.created"), make_event("widget.updated")
    messages = [FakeMessage(e.to_json(), topic=TOPIC, offset=i) for i, e in enumerate([created, updated, created])]
    messages.append(FakeMessage(b"poison", topic=TOPIC, offset=3))
    EventConsumer(HANDLERS(), consumer=OffsetRecorder(), producer=DeadLetters()).handle_batch(messages)

    assert applied("widget.created") - before["created"] == 1
    assert applied("widget.updated") - before["updated"] == 1
    assert value("consumer_duplicates_total", topic=TOPIC) - before["duplicates"] == 1
    assert value("consumer_dead_lettered_total", topic=TOPIC) - before["dead"] == 1
    assert value("consumer_batch_size_count") - before["batches"] == 1
    assert value("consumer_batch_size_sum") - before["batched"] == 4
    assert value("consumer_batch_duration_seconds_count") - before["durations"] == 1
    assert value("consumer_end_to_end_lag_seconds_count") - before["lags"] == 2
    assert Applied.objects.count() == 2


def HANDLERS():
    from widgets.handlers import HANDLERS

    return HANDLERS


@pytest.mark.django_db(transaction=True)
def test_consumer_lag_is_what_the_group_has_not_committed_per_partition(kafka, refresh_every_scrape):
    group = f"servicekit_tests-{uuid.uuid4().hex[:8]}"
    consumer = EventConsumer(HANDLERS(), group=group)
    events = [make_event("widget.created") for _ in range(3)]
    produce_raw(TOPIC, [(e.key, e.to_json()) for e in events])

    def lags():
        return {
            int(partition): figure
            for (name, labels), figure in samples(_registry_text()).items()
            if name == "consumer_lag_messages" and dict(labels)["topic"] == TOPIC
            for partition in [dict(labels)["partition"]]
        }

    lag = consumer.metrics.lag
    lag.watch(group, [TOPIC])  # as the loop does while it runs
    try:
        # Never committed: everything on the topic is ahead of the group.
        bounds = partition_bounds([(TOPIC, p) for p in topic_partitions(consumer.consumer, TOPIC)])
        assert lags() == {partition: end - first for (_, partition), (first, end) in bounds.items()}
        ids = {uuid.UUID(e.id) for e in events}
        consumer.run(lambda: ids <= set(Applied.objects.values_list("event_id", flat=True)))  # commits at the end
        lag.watch(group, [TOPIC])  # the loop stopped watching when it stopped
        assert set(lags().values()) == {0}
        more = [make_event("widget.updated") for _ in range(2)]
        produce_raw(TOPIC, [(e.key, e.to_json()) for e in more])
        assert sum(lags().values()) == 2
    finally:
        lag.watch(None, [])


def _registry_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


# -- the workers' endpoint ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_run_workers_serves_its_metrics_on_metrics_port(kafka, tmp_path, make_widgets):
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = tmp_path / "workers.log"
    workers = manage_py("run_workers", env={"METRICS_PORT": str(port)}, stdout=log.open("w"), stderr=subprocess.STDOUT)
    try:
        widget = make_widgets(1)[0]
        deadline = time.monotonic() + 60
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", "/metrics")
                figures = samples(connection.getresponse().read().decode())
                applied = figures.get(("consumer_events_applied_total", (("topic", TOPIC), ("type", "widget.created"))))
                if applied and figures[("outbox_events_published_total", ())] >= 1:
                    break
            except OSError:
                pass
            assert workers.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        assert Applied.objects.filter(subject=str(widget.id)).exists()
        assert ("outbox_pending_rows", ()) in figures
        assert any(name == "consumer_lag_messages" for name, _ in figures)
    finally:
        workers.send_signal(signal.SIGTERM)
        assert workers.wait(30) == 0, log.read_text()
    assert f"metrics on http://127.0.0.1:{port}/metrics" in log.read_text()
