"""The outbox relay against a real broker and PostgreSQL: order per key, no stall, no loss."""

import json
import logging
import signal
import subprocess
import threading
import time
import uuid
from datetime import timedelta

import pytest
from confluent_kafka import KafkaError
from django.db import connection, transaction
from django.utils import timezone
from widgets.events import WIDGET_CREATED
from widgets.services import widget_update

from conftest import written_event_ids
from servicekit.outbox import Event, emit_all
from servicekit.outbox import relay as relay_module
from servicekit.outbox.models import OutboxEvent, PublishedEvent
from servicekit.outbox.relay import QUEUE_PLAN, OutboxRelay, _claim_sql, retry_parked
from servicekit.testkit.kafka import events_on, relay_pending
from servicekit.testkit.service import manage_py

TOPIC = "widget_events"
pytestmark = pytest.mark.django_db


class FakeProducer:
    """Acknowledges every message at flush, except those whose value contains one of
    ``fail``: they fail then, asynchronously, as a broker timeout would."""

    def __init__(self, fail: tuple[str, ...] = (), error: int = KafkaError._MSG_TIMED_OUT) -> None:
        self.fail, self.error = fail, error
        self.produced: list[dict] = []
        self._queue = []

    def produce(self, topic, *, key, value, headers, on_delivery):
        self.produced.append(json.loads(value))
        self._queue.append((value, on_delivery))

    def flush(self, timeout=None):
        for value, on_delivery in self._queue:
            failed = any(marker.encode() in value for marker in self.fail)
            on_delivery(KafkaError(self.error) if failed else None, None)
        self._queue = []
        return 0

    def poll(self, timeout=None):
        return 0


def pending_ids():
    return list(OutboxEvent.objects.order_by("id").values_list("id", flat=True))


def test_published_rows_leave_the_outbox_and_reach_the_topic_as_cloudevents(make_widgets, kafka):
    widgets = make_widgets(3)
    assert relay_pending() == 3
    assert not OutboxEvent.objects.exists()
    records = list(PublishedEvent.objects.order_by("id"))
    assert [r.key for r in records] == [str(w.id) for w in widgets]
    assert not hasattr(records[0], "payload")  # the topic has the event; no second copy here
    messages = events_on(TOPIC, written_event_ids())
    for message in messages:
        assert message.headers["content-type"] == b"application/cloudevents+json"
        envelope = message.envelope
        assert message.key == envelope["subject"] and envelope["type"] == "widget.created"
        assert envelope["source"] == "servicekit_tests" and envelope["specversion"] == "1.0"


def test_a_failed_delivery_is_not_overtaken_by_the_next_event_of_its_key(make_widgets):
    """The broker fails row N asynchronously: row N+1 of the same key is not even sent, so
    it can neither reach the topic nor be marked published before N."""
    [widget], [other] = make_widgets(1), make_widgets(1)
    widget_update(widget=widget, title="changed")
    first, second = OutboxEvent.objects.filter(key=str(widget.id)).order_by("id")
    producer = FakeProducer(fail=(str(first.event_id),))
    published, failed = OutboxRelay(producer=producer).relay_batch()
    assert (published, failed) == (1, 2)
    assert [e["id"] for e in producer.produced] == [str(first.event_id), str(other_created_id(other))]
    assert set(pending_ids()) == {first.id, second.id}
    assert OutboxEvent.objects.get(id=first.id).attempts == 1
    assert OutboxEvent.objects.get(id=second.id).attempts == 0  # never sent, no attempt counted
    producer = FakeProducer()
    assert OutboxRelay(producer=producer).relay_batch() == (2, 0)
    assert [e["id"] for e in producer.produced] == [str(first.event_id), str(second.event_id)]


def other_created_id(widget):
    return PublishedEvent.objects.get(key=str(widget.id)).event_id


def test_no_stall_behind_a_parked_row(make_widgets):
    """Three batches' worth of one key waits behind its parked head; every other key flows
    at once, and the key follows in order once its head is retried."""
    batch = 10
    [stuck] = make_widgets(1)
    for i in range(3 * batch):
        widget_update(widget=stuck, title=f"update {i}")
    others = make_widgets(2 * batch)
    head = OutboxEvent.objects.filter(key=str(stuck.id)).order_by("id").first()
    OutboxEvent.objects.filter(id=head.id).update(parked_at=timezone.now(), last_error="MSG_SIZE_TOO_LARGE")
    relay = OutboxRelay(producer=FakeProducer(), batch_size=batch)
    assert relay.relay_batch() == (batch, 0)
    assert relay.relay_batch() == (batch, 0)
    assert relay.relay_batch() == (0, 0)
    assert set(PublishedEvent.objects.values_list("key", flat=True)) == {str(w.id) for w in others}
    assert OutboxEvent.objects.filter(key=str(stuck.id)).count() == 3 * batch + 1

    assert retry_parked([head.id]) == 1
    producer = FakeProducer()
    relay = OutboxRelay(producer=producer, batch_size=batch)
    while relay.relay_batch()[0]:
        pass
    assert not OutboxEvent.objects.exists()
    titles = [e["data"]["title"] for e in producer.produced]
    assert titles == ["w 0", *(f"update {i}" for i in range(3 * batch))]


def test_an_event_the_broker_refuses_is_parked_and_holds_back_only_its_key(make_widgets, kafka):
    [stuck] = make_widgets(1)
    row = OutboxEvent.objects.get(key=str(stuck.id))
    row.payload["data"]["title"] = "x" * 1_100_000  # over the broker's message size limit
    row.save()
    widget_update(widget=stuck, title="after")
    [fine] = make_widgets(1)
    relay = OutboxRelay()
    relay.relay_batch()
    relay.relay_batch()
    parked = OutboxEvent.objects.get(parked_at__isnull=False)
    assert parked.id == row.id and "MSG_SIZE_TOO_LARGE" in parked.last_error
    assert OutboxEvent.objects.filter(key=str(stuck.id), parked_at__isnull=True).count() == 1  # waits, in order
    assert list(PublishedEvent.objects.values_list("key", flat=True)) == [str(fine.id)]


@pytest.mark.django_db(transaction=True)
def test_a_row_that_commits_after_a_later_one_is_published_promptly(make_widgets):
    """Ids are handed out at insert, not at commit: a transaction that took a lower id and
    commits after the relay moved on must still be seen (the floor waits for it)."""
    from widgets.services import widget_create

    inserted, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                widget_create(user_id=uuid.uuid4(), title="slow")
                inserted.set()
                release.wait(10)
        finally:
            connection.close()
            done.set()

    threading.Thread(target=slow_writer).start()
    assert inserted.wait(10)
    make_widgets(1, title="fast")
    producer = FakeProducer()
    relay = OutboxRelay(producer=producer)
    for _ in range(3):
        relay.floor.refresh(force=True)
        relay.relay_batch()
    assert [e["data"]["title"] for e in producer.produced] == ["fast 0"]
    slow_id = OutboxEvent.objects.values_list("id", flat=True).first()
    assert slow_id is None  # not visible yet
    assert relay.floor.value <= min(PublishedEvent.objects.values_list("id", flat=True))
    release.set()
    assert done.wait(10)
    relay.relay_batch()
    assert [e["data"]["title"] for e in producer.produced] == ["fast 0", "slow"]
    for _ in range(2):  # nothing is in flight any more: the floor moves past both
        relay.floor.refresh(force=True)
    assert relay.floor.value > max(PublishedEvent.objects.values_list("id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_claim_reads_the_same_few_pages_however_many_events_were_published(make_widgets):
    """Autovacuum is off here: the primary key index keeps an entry for every row ever
    published. A claim starts at the floor, so it does not walk them."""
    relay = OutboxRelay(producer=FakeProducer(), batch_size=500)

    def claim_buffers(floor: int) -> int:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(QUEUE_PLAN)
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + _claim_sql("postgresql"), [floor, 500])
            plan = cursor.fetchone()[0]
        plan = plan if isinstance(plan, list) else json.loads(plan)
        top = plan[0]["Plan"]
        return top["Shared Hit Blocks"] + top["Shared Read Blocks"]

    make_widgets(1)
    relay.relay_batch()
    relay.floor.refresh(force=True)
    relay.floor.refresh(force=True)
    before = claim_buffers(relay.floor.value)
    for _ in range(10):
        with transaction.atomic():
            emit_all(Event(WIDGET_CREATED, uuid.uuid4(), uuid.uuid4(), {"title": "bulk"}) for _ in range(500))
        while relay.relay_batch()[0]:
            pass
    relay.floor.refresh(force=True)
    relay.floor.refresh(force=True)
    after = claim_buffers(relay.floor.value)
    from_the_start = claim_buffers(0)
    assert after <= before + 2, (before, after)
    assert from_the_start > 4 * after, (from_the_start, after)  # without the floor: every dead entry


def test_published_records_are_pruned_after_the_retention(make_widgets):
    make_widgets(3)
    OutboxRelay(producer=FakeProducer()).relay_batch()
    old, _recent, _ = PublishedEvent.objects.order_by("id")
    PublishedEvent.objects.filter(id=old.id).update(published_at=timezone.now() - timedelta(days=30))
    make_widgets(1)  # still pending: never pruned
    assert OutboxRelay(producer=FakeProducer()).prune() == 1
    assert PublishedEvent.objects.count() == 2 and OutboxEvent.objects.count() == 1


def test_a_relay_that_publishes_nothing_for_long_names_the_row_that_blocks(make_widgets, caplog, monkeypatch):
    monkeypatch.setattr(relay_module, "STALL_SECONDS", 0.0)
    [widget] = make_widgets(1)
    relay = OutboxRelay(producer=FakeProducer(fail=("widget.created",)))
    with caplog.at_level(logging.ERROR, logger="servicekit.outbox"):
        relay.relay_batch()
        relay.relay_batch()
    row = OutboxEvent.objects.get()
    assert any(f"blocked at row {row.id} (widget.created, key {widget.id}" in r.getMessage() for r in caplog.records)


def test_broker_down_writes_succeed_and_nothing_is_lost(make_widgets, kafka, settings):
    """The memory-only broker comes back empty: the relay creates its topics again, with the
    partitions of the configuration (never the broker's auto-created default), then sends."""
    from confluent_kafka.admin import AdminClient

    kafka.stop()
    try:
        make_widgets(20)
        assert OutboxRelay().relay_batch() == (0, 20)  # kept pending, not dropped
    finally:
        kafka.start()
    assert relay_pending() == 20
    ids = written_event_ids()
    assert {m.envelope["id"] for m in events_on(TOPIC, ids)} == ids  # lost = 0
    topics = AdminClient({"bootstrap.servers": kafka.bootstrap_servers}).list_topics(timeout=10).topics
    assert len(topics[TOPIC].partitions) == settings.KAFKA["TOPIC_PARTITIONS"]


@pytest.mark.django_db(transaction=True)
def test_an_idle_relay_wakes_on_commit(make_widgets, kafka, tmp_path):
    """It waits on LISTEN (idle wait 120 s here): a commit wakes it, no poll does."""
    log = tmp_path / "relay.log"
    relay = manage_py("relay_outbox", env={"OUTBOX_IDLE_WAIT_SECONDS": "120"}, stdout=log.open("w"),
                      stderr=subprocess.STDOUT)  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while "outbox relay started" not in log.read_text():
            assert time.monotonic() < deadline and relay.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(1)  # its first pass is done: now it waits
        make_widgets(1)
        assert events_on(TOPIC, written_event_ids(), timeout=15)
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(15) == 0


@pytest.mark.django_db(transaction=True)
def test_relay_killed_mid_batch_loses_nothing(make_widgets, kafka):
    make_widgets(600)
    env = {"OUTBOX_BATCH_SIZE": "20"}
    relay = manage_py("relay_outbox", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not PublishedEvent.objects.exists():
        assert time.monotonic() < deadline and relay.poll() is None
        time.sleep(0.01)
    relay.send_signal(signal.SIGKILL)
    relay.wait()
    assert OutboxEvent.objects.exists(), "the relay finished before it could be killed"
    relay = manage_py("relay_outbox", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while OutboxEvent.objects.exists():
            assert time.monotonic() < deadline + 60, "relay did not finish after restart"
            time.sleep(0.05)
    finally:
        relay.send_signal(signal.SIGTERM)
        assert relay.wait(15) == 0  # a clean shutdown on SIGTERM
    ids = written_event_ids()
    assert {m.envelope["id"] for m in events_on(TOPIC, ids)} == ids  # lost = 0 (duplicates allowed)


@pytest.mark.django_db(transaction=True)
def test_two_relays_publish_each_row_once_and_keep_each_key_in_order(make_widgets, kafka):
    widgets = make_widgets(40)
    for round_ in range(5):  # several events per key, interleaved across keys
        for widget in widgets:
            widget_update(widget=widget, title=f"round {round_}")
    expected = list(OutboxEvent.objects.order_by("id").values_list("event_id", "key"))
    env = {"OUTBOX_BATCH_SIZE": "7"}
    relays = [manage_py("relay_outbox", env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in "ab"]
    try:
        deadline = time.monotonic() + 90
        while OutboxEvent.objects.exists():
            assert time.monotonic() < deadline, "relays did not publish everything"
            time.sleep(0.05)
    finally:
        for relay in relays:
            relay.send_signal(signal.SIGTERM)
        assert [relay.wait(20) for relay in relays] == [0, 0]
    messages = events_on(TOPIC, {str(event_id) for event_id, _ in expected})
    keys = {key for _, key in expected}
    ours = [m for m in messages if m.key in keys]
    assert len(ours) == len(expected)  # no row published twice
    on_topic: dict[str, list[str]] = {}
    for message in sorted(ours, key=lambda m: (m.partition, m.offset)):
        on_topic.setdefault(message.key, []).append(message.envelope["id"])
    for key in keys:
        assert on_topic[key] == [str(event_id) for event_id, k in expected if k == key]  # committed order
