"""OpenTelemetry traces, from the HTTP request to the consumer that applies its event.

Off unless ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set: then, and only then, this module imports
OpenTelemetry (nothing of it is loaded otherwise, and the code paths below test one
module-level flag, :data:`ENABLED`). When on:

- the web server's requests are traced (opentelemetry-instrumentation-django), and
  PostgreSQL statements everywhere (-psycopg2);
- :func:`servicekit.outbox.emit` stores the current context in the event's envelope, as the
  CloudEvents distributed-tracing extension (``traceparent``, ``tracestate``), so it is
  committed with the outbox row;
- the relay opens a ``publish`` span (kind PRODUCER) as the child of that context, and
  the event goes out with the publish span's context in its ``traceparent``;
- the consumer opens an ``apply`` span (kind CONSUMER) as the child of the event's
  context, around the transaction that applies it: its statements are under it. A batch
  applies many events in one transaction: each traced event gets its apply span (the
  batch's time), the batch's statements go under the first one's.

Workers continue traces, they never start one (their sampler drops spans without a
parent: the relay's claims and the consumer's polls are not traced). Spans are exported in
batches over OTLP/HTTP (``<endpoint>/v1/traces``) with ``service.name`` the service's name.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from django.conf import settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider

    from servicekit.consumer import Received
    from servicekit.outbox.relay import ClaimedRow

#: Whether traces are recorded in this process (set once, by :func:`configure`).
ENABLED = False
#: The CloudEvents distributed-tracing extension's attributes (W3C Trace Context).
CONTEXT_ATTRIBUTES = ("traceparent", "tracestate")

_propagator: Any = None
_instrumented: list[Any] = []


def configure(*, service: str, web: bool) -> bool:
    """Starts tracing in this process if ``OTEL_EXPORTER_OTLP_ENDPOINT`` is set (the web
    server: ``web``; a worker otherwise). Returns whether tracing is on."""
    endpoint = settings.TRACING["OTLP_ENDPOINT"]
    if ENABLED or not endpoint:
        return ENABLED
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ALWAYS_OFF, ALWAYS_ON, ParentBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": service}),
        sampler=ParentBased(root=ALWAYS_ON if web else ALWAYS_OFF),
    )
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=f"{endpoint.rstrip('/')}/v1/traces")))
    instrument(provider, web=web)
    return True


def instrument(provider: TracerProvider, *, web: bool) -> None:
    """Makes ``provider`` this process's and instruments Django (``web``) and psycopg2.
    :func:`configure` calls it; tests call it with an in-memory exporter."""
    global ENABLED, _propagator
    from opentelemetry import trace
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    trace.set_tracer_provider(provider)
    _propagator = TraceContextTextMapPropagator()
    if web:
        from opentelemetry.instrumentation.django import DjangoInstrumentor

        DjangoInstrumentor().instrument(tracer_provider=provider)
        _instrumented.append(DjangoInstrumentor())
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        from opentelemetry.instrumentation.psycopg2 import Psycopg2Instrumentor

        Psycopg2Instrumentor().instrument(tracer_provider=provider, skip_dep_check=True)
        _instrumented.append(Psycopg2Instrumentor())
    ENABLED = True


def uninstrument() -> None:
    """Undoes :func:`instrument` (tests)."""
    global ENABLED
    while _instrumented:
        _instrumented.pop().uninstrument()
    ENABLED = False


def _tracer():
    from opentelemetry import trace

    return trace.get_tracer("servicekit")


def current_context() -> dict[str, str]:
    """The current span's context as the extension's attributes (empty without a span)."""
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return {name: carrier[name] for name in CONTEXT_ATTRIBUTES if carrier.get(name)}


def _extract(attributes: dict[str, Any]) -> Any:
    """The context carried by an envelope's attributes, or None."""
    if not attributes.get("traceparent"):
        return None
    carrier = {name: attributes[name] for name in CONTEXT_ATTRIBUTES if isinstance(attributes.get(name), str)}
    return _propagator.extract(carrier)


class PublishSpans:
    """The relay's ``publish`` spans of one batch: :attr:`payloads` are the envelopes to
    send (carrying each span's context), :meth:`finish` ends the spans with the results."""

    def __init__(self, rows: Sequence[ClaimedRow]) -> None:
        from opentelemetry import trace
        from opentelemetry.trace import SpanKind

        tracer = _tracer()
        self.spans: list[Any] = []
        self.payloads: list[dict[str, Any]] = []
        for row in rows:
            parent = _extract(row.payload)
            if parent is None:  # written while tracing was off: nothing to continue
                self.spans.append(None)
                self.payloads.append(row.payload)
                continue
            span = tracer.start_span(
                f"publish {row.topic}",
                context=parent,
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": row.topic,
                    "messaging.message.id": str(row.event_id),
                    "messaging.kafka.message.key": row.key,
                    "cloudevents.event_type": row.event_type,
                },
            )
            carrier: dict[str, str] = {}
            _propagator.inject(carrier, context=trace.set_span_in_context(span))
            self.spans.append(span)
            self.payloads.append({**row.payload, **carrier})

    def finish(self, errors: Sequence[Any]) -> None:
        """``errors``: one per row, None for an acknowledged one."""
        from opentelemetry.trace import Status, StatusCode

        for span, error in zip(self.spans, errors, strict=True):
            if span is None:
                continue
            if error is not None:
                span.set_status(Status(StatusCode.ERROR, str(error)))
            span.end()


@contextlib.contextmanager
def apply_spans(received: Sequence[Received], *, group: str) -> Iterator[None]:
    """The consumer's ``apply`` spans around one transaction that applies ``received``: one
    per traced event, the first one current (the transaction's statements are under it)."""
    from opentelemetry import trace
    from opentelemetry.trace import SpanKind, Status, StatusCode

    tracer = _tracer()
    spans = []
    for item in received:
        parent = _extract(item.event.extensions)
        if parent is None:
            continue
        spans.append(
            tracer.start_span(
                f"apply {item.event.type}",
                context=parent,
                kind=SpanKind.CONSUMER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "process",
                    "messaging.destination.name": item.delivery.topic,
                    "messaging.destination.partition.id": str(item.delivery.partition),
                    "messaging.kafka.offset": item.delivery.offset,
                    "messaging.consumer.group.name": group,
                    "messaging.message.id": item.id,
                    "messaging.batch.message_count": len(received),
                },
            )
        )
    try:
        current = spans[0] if spans else None
        with (trace.use_span(current, end_on_exit=False, record_exception=False, set_status_on_exception=False)
              if current is not None else contextlib.nullcontext()):  # fmt: skip
            yield
    except BaseException as exc:
        for span in spans:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, repr(exc)))
        raise
    finally:
        for span in spans:
            span.end()


def trace_id_of(attributes: dict[str, Any]) -> str | None:
    """The trace id of an envelope's ``traceparent`` (``00-<trace id>-<span id>-<flags>``), or None."""
    parts = str(attributes.get("traceparent", "")).split("-")
    return parts[1] if len(parts) == 4 and len(parts[1]) == 32 else None


def log_context() -> dict[str, str]:
    """``trace_id`` and ``span_id`` of the current span, for log lines (empty without one)."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}
