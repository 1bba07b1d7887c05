"""The consumer loop: batches in a constant number of statements, exactly-once effects,
per-event fallback and dead letters, tolerant reading, liveness through outages."""

import threading
import time
import uuid

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext
from widgets.handlers import HANDLERS, record_widget_events
from widgets.models import Applied

from servicekit import consumer as consumer_module
from servicekit.consumer import EventConsumer, EventHandlers, Received
from servicekit.heartbeat import main as heartbeat_check
from servicekit.inbox.models import ProcessedEvent
from servicekit.testkit.kafka import FakeMessage, make_event, produce_raw, read_topic

pytestmark = pytest.mark.django_db
TOPIC = "widget_events"


class OffsetRecorder:
    """Stands in for the Kafka consumer: records the offsets stored."""

    def __init__(self, messages=()):
        self.stored = []
        self.messages = list(messages)
        self.consume_timeouts = []

    def store_offsets(self, message):
        self.stored.append(message.offset())

    def subscribe(self, topics, on_revoke=None):
        pass

    def poll(self, timeout):
        return self.messages.pop(0) if self.messages else None

    def consume(self, num_messages, timeout):
        self.consume_timeouts.append(timeout)
        taken, self.messages = self.messages[:num_messages], self.messages[num_messages:]
        return taken

    def commit(self, asynchronous=False):
        pass

    def close(self):
        pass


class DeadLetters:
    """Stands in for the dead-letter producer: acknowledges and keeps what it got."""

    def __init__(self):
        self.values = []

    def produce(self, topic, *, key, value, headers, on_delivery):
        self.values.append((topic, value, dict(headers)))
        on_delivery(None, None)

    def flush(self, timeout=None):
        return 0

    def poll(self, timeout=None):
        return 0


def widget_event(event_type="widget.created", **kwargs):
    return make_event(event_type, **kwargs)


def message(event, offset=0):
    return FakeMessage(event.to_json(), topic=TOPIC, offset=offset)


def consumer_with(handlers=HANDLERS):
    return EventConsumer(handlers, consumer=OffsetRecorder(), producer=DeadLetters())


def applied():
    return list(Applied.objects.order_by("id").values_list("event_id", flat=True))


def test_a_batch_costs_the_same_statements_for_one_event_as_for_a_hundred():
    consumer = consumer_with()
    with CaptureQueriesContext(connection) as one:
        consumer.handle_batch([message(widget_event())])
    with CaptureQueriesContext(connection) as hundred:
        consumer.handle_batch([message(widget_event(), offset) for offset in range(100)])
    assert len(applied()) == 101
    assert len(hundred) == len(one) <= 4, [q["sql"][:80] for q in hundred]


def test_independent_handlers_get_all_their_events_of_a_batch_in_one_call_after_the_others():
    """servicekit's token revocations, say, next to a service's own handler of the same type:
    the service's handlers keep their runs (and their order), the independent one is called
    once for the batch, whatever lies between its events."""
    calls = []
    handlers = EventHandlers(group="servicekit_tests")

    def recorder(name):
        def handle(received):
            calls.append((name, [item.event.type for item in received]))

        handle.__name__ = name
        return handle

    handlers.batch(TOPIC, "widget.created")(recorder("created"))
    handlers.batch(TOPIC, "widget.deleted")(recorder("deleted"))
    kit = handlers.independent(TOPIC, "widget.deleted", "widget.archived")(recorder("kit"))
    with pytest.raises(ValueError, match=r"handles widget\.deleted"):
        handlers.independent(TOPIC, "widget.deleted")(kit)
    types = ["widget.created", "widget.deleted", "widget.created", "widget.archived", "widget.deleted", "widget.odd"]
    consumer = consumer_with(handlers)
    consumer.handle_batch([message(widget_event(t), i) for i, t in enumerate(types)])
    assert calls == [
        ("created", ["widget.created"]),
        ("deleted", ["widget.deleted"]),
        ("created", ["widget.created"]),
        ("deleted", ["widget.deleted"]),
        ("kit", ["widget.deleted", "widget.archived", "widget.deleted"]),
    ]
    assert handlers.handles(TOPIC, "widget.archived") and not handlers.handles(TOPIC, "widget.odd")
    assert consumer.counts["skipped"] == 1 and consumer.counts["applied"] == 5


def test_redeliveries_and_repeats_within_a_batch_are_applied_once():
    consumer = consumer_with()
    first, second = widget_event(), widget_event()
    consumer.handle_batch([message(first, 0), message(first, 1), message(second, 2)])
    consumer.handle_batch([message(first, 3)])
    assert applied() == [uuid.UUID(first.id), uuid.UUID(second.id)]
    assert ProcessedEvent.objects.count() == 2
    assert consumer.consumer.stored == [0, 1, 2, 3]
    assert (consumer.counts["applied"], consumer.counts["duplicates"]) == (2, 2)


def test_a_failing_event_is_retried_then_dead_lettered_and_the_rest_follow_in_order(settings, monkeypatch):
    settings.KAFKA = {**settings.KAFKA, "HANDLER_ATTEMPTS": 3}
    monkeypatch.setattr(EventConsumer, "_pause", lambda self, seconds: None)
    events = [widget_event() for _ in range(5)]
    bad = events[2]
    calls = []

    handlers = EventHandlers(group="servicekit_tests")

    @handlers.batch(TOPIC, "widget.created")
    def breaks_on_one(received: list[Received]) -> None:
        calls.append(len(received))
        if any(item.event.id == bad.id for item in received):
            raise ValueError("bug in the handler")
        record_widget_events(received)

    consumer = consumer_with(handlers)
    consumer.handle_batch([message(e, offset) for offset, e in enumerate(events)])
    assert applied() == [uuid.UUID(e.id) for e in events if e is not bad]
    assert calls == [5] + [1] * 7  # the batch, then one by one: four good ones, the bad one three times
    assert consumer.consumer.stored == [0, 1, 2, 3, 4]
    [(topic, value, headers)] = consumer.producer.values
    assert topic == "servicekit_tests.dlq" and value == events[2].to_json()
    assert b"bug in the handler" in headers["dlq.error"] and headers["dlq.origin.offset"] == b"2"


def test_poison_is_dead_lettered_in_place_and_unknown_types_are_skipped():
    consumer = consumer_with()
    before, after = widget_event(), widget_event()
    unknown = widget_event("widget.painted")
    consumer.handle_batch(
        [message(before, 0), FakeMessage(b"not json", topic=TOPIC, offset=1), message(unknown, 2), message(after, 3)]
    )
    assert applied() == [uuid.UUID(before.id), uuid.UUID(after.id)]
    assert [value for _, value, _ in consumer.producer.values] == [b"not json"]  # the unknown type is no poison
    assert consumer.consumer.stored == [0, 1, 2, 3]
    assert consumer.counts["skipped"] == 1
    assert not ProcessedEvent.objects.filter(event_id=unknown.id).exists()


def test_the_loop_applies_what_has_arrived_without_waiting_for_a_full_batch():
    events = [widget_event() for _ in range(3)]
    consumer = consumer_with()
    consumer.consumer.messages = [message(e, offset) for offset, e in enumerate(events)]
    consumer.run(lambda: len(applied()) == 3)
    assert consumer.consumer.consume_timeouts == [0]  # after the first message: only what is there


def test_a_database_outage_is_retried_at_a_steady_pace_with_the_heartbeat_beaten(monkeypatch):
    outage = {"left": 40}
    handlers = EventHandlers(group="servicekit_tests")

    @handlers.batch(TOPIC, "widget.created")
    def database_away(received):
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("connection to server was lost")
        record_widget_events(received)

    consumer = consumer_with(handlers)
    beats, pauses = [], []
    monkeypatch.setattr(consumer.heartbeat, "beat", lambda: beats.append(1))
    monkeypatch.setattr(consumer_module, "DATABASE_RETRY_SECONDS", 0.001)
    monkeypatch.setattr(consumer_module, "close_old_connections", lambda: None)
    real_pause = EventConsumer._pause
    monkeypatch.setattr(
        EventConsumer, "_pause", lambda self, seconds: (pauses.append(seconds), real_pause(self, seconds))
    )
    event = widget_event()
    consumer.handle_batch([message(event)])
    assert applied() == [uuid.UUID(event.id)]
    # Every try after the same short wait, never a growing backoff (so catch-up starts within
    # DATABASE_RETRY_SECONDS of the database's return), the heartbeat beaten in each wait.
    assert pauses == [0.001] * 40
    assert len(beats) >= 40


@pytest.mark.django_db(transaction=True)
def test_a_stuck_loop_lets_the_heartbeat_go_stale(monkeypatch, tmp_path):
    path = tmp_path / "heartbeat"
    monkeypatch.setenv("HEARTBEAT_FILE", str(path))
    release = threading.Event()

    handlers = EventHandlers(group="servicekit_tests")

    @handlers.batch(TOPIC, "widget.created")
    def stuck(received):
        release.wait(10)

    consumer = consumer_with(handlers)
    consumer.heartbeat.beat()
    worker = threading.Thread(target=lambda: (consumer.handle_batch([message(widget_event())]), connection.close()))
    worker.start()
    try:
        time.sleep(2.2)
        assert heartbeat_check([str(path), "--max-age", "2"]) == 1  # a health check calls it dead
    finally:
        release.set()
        worker.join(10)


@pytest.mark.django_db(transaction=True)  # the handler breaks the connection: no test-wide transaction
def test_offsets_are_never_stored_for_a_batch_that_was_rolled_back():
    """A handler whose connection dies and that then swallows the error: Django can only
    mark the transaction for rollback. The batch is applied again, not reported as done."""
    broke = []
    handlers = EventHandlers(group="servicekit_tests")

    @handlers.batch(TOPIC, "widget.created")
    def breaks_its_connection_once(received):
        if not broke:
            broke.append(True)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            except Exception:  # noqa: BLE001, S110 - swallowed on purpose, as a buggy handler might
                pass
            return
        record_widget_events(received)

    events = [widget_event() for _ in range(3)]
    consumer = consumer_with(handlers)
    consumer.handle_batch([message(e, offset) for offset, e in enumerate(events)])
    assert broke
    assert ProcessedEvent.objects.filter(event_id__in=[e.id for e in events]).count() == 3
    assert applied() == [uuid.UUID(e.id) for e in events]
    assert sorted(consumer.consumer.stored) == [0, 1, 2]  # each stored once, after its commit


def test_against_the_broker_poison_goes_to_the_dead_letter_topic_and_the_rest_is_applied(kafka):
    good = [widget_event() for _ in range(3)]
    marker = f"poison-{uuid.uuid4()}"
    poison = [(marker, b"not json at all"), (marker, b'{"specversion": "1.0", "id": "x"}'), (marker, None)]
    produce_raw(TOPIC, [(good[0].key, good[0].to_json()), *poison[:2], (good[1].key, good[1].to_json()), poison[2],
                        (good[2].key, good[2].to_json())])  # fmt: skip
    consumer = EventConsumer(HANDLERS, group=f"servicekit_tests-{uuid.uuid4().hex[:8]}")

    def letters():
        return [m for m in read_topic("servicekit_tests.dlq") if m.key == marker]

    consumer.run(lambda: len(set(applied()) & {uuid.UUID(e.id) for e in good}) == 3 and len(letters()) == 3)
    found = letters()
    assert {m.headers["dlq.origin.topic"] for m in found} == {TOPIC.encode()}
    assert all(m.headers["dlq.error"] and m.headers["dlq.origin.offset"].isdigit() for m in found)
    assert sorted(m.value or b"" for m in found) == sorted(v or b"" for _, v in poison)
