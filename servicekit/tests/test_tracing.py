"""Traces (servicekit.tracing): one write's trace goes from its HTTP request through the
outbox and the broker to the consumer that applies it, and consumers that know nothing of
tracing read the same events."""

import json
import logging
import subprocess
import sys
import uuid

import pytest
from django.db import connection
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient
from widgets.models import Applied

from servicekit import tracing
from servicekit.consumer import EventConsumer
from servicekit.events import EventEnvelope
from servicekit.logs import JSONFormatter, TextFormatter
from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.kafka import events_on, relay_pending
from servicekit.testkit.tokens import mint_access_token

TOPIC = "widget_events"
EXPORTER = InMemorySpanExporter()
# One provider per process (OpenTelemetry's global provider is set once).
PROVIDER = TracerProvider()
PROVIDER.add_span_processor(SimpleSpanProcessor(EXPORTER))


@pytest.fixture
def traced():
    """Tracing on in this process, as OTEL_EXPORTER_OTLP_ENDPOINT turns it on, exporting to memory."""
    tracing.instrument(PROVIDER, web=True)
    connection.close()  # the next connection is made by the instrumented driver
    EXPORTER.clear()
    try:
        yield EXPORTER
    finally:
        tracing.uninstrument()
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_one_trace_links_the_request_the_relay_and_the_consumer_of_one_write(kafka, traced, caplog):
    user = uuid.uuid4()
    client = APIClient()
    response = client.post("/api/widgets/", {"title": "traced"}, format="json",
                           headers={"Authorization": f"Bearer {mint_access_token(user)}"})  # fmt: skip
    assert response.status_code == 201, response.content
    stored = OutboxEvent.objects.get().payload
    assert stored["traceparent"].startswith("00-")

    relay_pending()
    (message,) = events_on(TOPIC, {stored["id"]})
    on_topic = message.envelope
    consumer = EventConsumer(_handlers(), group=f"servicekit_tests-{uuid.uuid4().hex[:8]}")
    with caplog.at_level(logging.INFO, logger="servicekit.consumer"):
        consumer.run(lambda: Applied.objects.filter(event_id=stored["id"]).exists())

    spans = traced.get_finished_spans()
    (server,) = [s for s in spans if s.kind == SpanKind.SERVER]
    (publish,) = [s for s in spans if s.kind == SpanKind.PRODUCER]
    (apply,) = [s for s in spans if s.kind == SpanKind.CONSUMER]
    trace_id = server.context.trace_id
    assert publish.context.trace_id == apply.context.trace_id == trace_id
    assert publish.parent.span_id == server.context.span_id
    assert apply.parent.span_id == publish.context.span_id
    assert publish.name == f"publish {TOPIC}" and apply.name == "apply widget.created"
    assert publish.attributes["messaging.message.id"] == stored["id"]
    # The event travels with the publish span's context: the consumer continues from there.
    assert on_topic["traceparent"].startswith(f"00-{trace_id:032x}-{publish.context.span_id:016x}-")
    # The database work of the request and of the consumer is in the trace, under their spans.
    statements = [s for s in spans if s.kind == SpanKind.CLIENT and s.context.trace_id == trace_id]
    assert any(s.parent.span_id == server.context.span_id for s in statements)
    assert any(s.parent.span_id == apply.context.span_id for s in statements)
    # The consumer's line about the event names its trace.
    (line,) = [r for r in caplog.records if getattr(r, "event_id", None) == stored["id"]]
    assert line.getMessage().endswith(f"trace_id={trace_id:032x}") and line.trace_id == f"{trace_id:032x}"


@pytest.mark.django_db
def test_with_tracing_off_nothing_of_opentelemetry_is_loaded_and_events_carry_no_context(make_widgets):
    assert not tracing.ENABLED
    (widget,) = make_widgets(1)
    assert "traceparent" not in OutboxEvent.objects.get(key=str(widget.id)).payload
    # A process of its own: this one imported the SDK for the other tests.
    probe = (
        "import os, sys, django; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); django.setup();"
        "from servicekit.entrypoints import wsgi_application; wsgi_application();"
        "import servicekit.consumer, servicekit.outbox.relay, servicekit.metrics;"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry')))"
    )
    from django.conf import settings

    env = {
        "SECRET_KEY": "x" * 50,
        "JWT_SIGNING_KEY": "y" * 50,
        "PATH": "/usr/bin:/bin",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "",
    }
    result = subprocess.run([sys.executable, "-c", probe], cwd=settings.BASE_DIR, env=env, capture_output=True,
                            text=True, timeout=60, check=False)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_a_consumer_that_ignores_the_tracing_attributes_reads_the_event_unchanged():
    event = EventEnvelope(source="widgets", type="widget.created", subject=str(uuid.uuid4()),
                          userid=str(uuid.uuid4()), data={"id": "1"})  # fmt: skip
    plain = json.loads(event.to_json())
    traced_doc = {**plain, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                  "tracestate": "vendor=value"}  # fmt: skip
    parsed = EventEnvelope.from_dict(traced_doc)
    assert parsed.extensions == {"traceparent": traced_doc["traceparent"], "tracestate": "vendor=value"}
    without = EventEnvelope.from_dict(plain)
    assert (parsed.id, parsed.type, parsed.subject, parsed.userid, parsed.data, parsed.time) == (
        without.id, without.type, without.subject, without.userid, without.data, without.time)  # fmt: skip


def test_log_lines_carry_the_trace_when_tracing_is_on(traced):
    record = logging.LogRecord("servicekit", logging.INFO, __file__, 1, "hello", None, None)
    assert "trace_id" not in TextFormatter().format(record)  # no span, no trace
    from opentelemetry import trace

    with trace.get_tracer("tests").start_as_current_span("work") as span:
        ids = span.get_span_context()
        text = TextFormatter().format(record)
        doc = json.loads(JSONFormatter(service="s").format(record))
    assert text.endswith(f"hello trace_id={ids.trace_id:032x} span_id={ids.span_id:016x}")
    assert doc["trace_id"] == f"{ids.trace_id:032x}" and doc["span_id"] == f"{ids.span_id:016x}"


def _handlers():
    from widgets.handlers import HANDLERS

    return HANDLERS
