"""consume_events against a real broker: every event applied once, through faults."""

import signal
import subprocess
import time
import uuid

import pytest
from django.db import OperationalError

from activity.handlers import HANDLERS
from activity.models import Event, UserActivity
from servicekit.consumer import EventConsumer
from servicekit.events import EventType
from servicekit.inbox.models import ProcessedEvent
from servicekit.testkit.kafka import make_event, produce_raw, read_topic
from servicekit.testkit.service import manage_py


def produce_events(events):
    by_topic = {}
    for event in events:
        by_topic.setdefault(event.topic.value, []).append((event.key, event.to_json()))
    for topic, messages in by_topic.items():
        produce_raw(topic, messages)


def in_process_consumer(**kwargs):
    return EventConsumer(group=f"consumer_service-{uuid.uuid4().hex[:8]}", topics=[t.value for t in
                         {EventType.POST_CREATED.topic, EventType.NOTE_CREATED.topic, EventType.USER_DELETED.topic}],
                         dead_letter_topic="consumer_service.dlq", **kwargs)  # fmt: skip


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db
def test_all_topics_are_consumed_and_summarised(kafka):
    user = uuid.uuid4()
    post = make_event(EventType.POST_CREATED, user_id=user)
    events = [
        make_event(EventType.USER_REGISTERED, user_id=user),
        post,
        make_event(EventType.NOTE_CREATED, user_id=user),
        make_event(EventType.POST_DELETED, user_id=user, subject=post.subject),
    ]
    produce_events(events)
    ids = {e.id for e in events}
    in_process_consumer(handlers=HANDLERS).run(lambda: ProcessedEvent.objects.filter(event_id__in=ids).count() == 4)
    summary = UserActivity.objects.get(user_id=user)
    assert (summary.posts, summary.notes, summary.events_seen) == (0, 1, 4)
    assert {str(i) for i in Event.objects.filter(user_id=user).values_list("id", flat=True)} == ids


@pytest.mark.django_db
def test_failing_handler_is_retried_then_dead_lettered_and_the_loop_moves_on(kafka, settings):
    settings.KAFKA = {**settings.KAFKA, "HANDLER_ATTEMPTS": 3}
    calls = []

    def broken(event, delivery):
        calls.append(event.id)
        raise ValueError("bug in the handler")

    # One key, so one partition: the good event comes after the bad one in the same order.
    bad = make_event(EventType.NOTE_UPDATED)
    good = make_event(EventType.NOTE_CREATED, user_id=bad.userid, subject=bad.subject)
    produce_events([bad, good])
    handlers = {**HANDLERS, EventType.NOTE_UPDATED: broken}
    in_process_consumer(handlers=handlers).run(lambda: ProcessedEvent.objects.filter(event_id=good.id).exists())
    assert calls.count(bad.id) == 3
    assert not ProcessedEvent.objects.filter(event_id=bad.id).exists()
    letters = [m for m in read_topic("consumer_service.dlq") if m.envelope.get("id") == bad.id]
    assert len(letters) == 1
    assert b"bug in the handler" in letters[0].headers["dlq.error"]
    assert letters[0].headers["dlq.origin.topic"] == b"note_events"


@pytest.mark.django_db(transaction=True)  # the loop reconnects: no test-wide transaction around it
def test_database_outage_pauses_without_dead_lettering_or_loss(kafka):
    outage = {"left": 3}

    def flaky_database(event, delivery):
        if outage["left"]:
            outage["left"] -= 1
            raise OperationalError("connection to server was lost")
        HANDLERS[event.type](event, delivery)

    event = make_event(EventType.POST_CREATED)
    produce_events([event])
    handlers = dict.fromkeys(EventType, flaky_database)
    in_process_consumer(handlers=handlers).run(lambda: ProcessedEvent.objects.filter(event_id=event.id).exists())
    assert outage["left"] == 0
    assert UserActivity.objects.get(user_id=event.userid).posts == 1
    assert not [m for m in read_topic("consumer_service.dlq") if m.envelope.get("id") == event.id]


@pytest.mark.django_db(transaction=True)
def test_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(kafka, tmp_path):
    user = uuid.uuid4()
    events = [make_event(EventType.POST_CREATED, user_id=user) for _ in range(400)]
    produce_events(events)
    ours = Event.objects.filter(user_id=user)
    log = tmp_path / "consumer.log"

    def start():
        return manage_py("consume_events", stdout=log.open("a"), stderr=subprocess.STDOUT)

    worker = start()
    wait_for(lambda: ours.count() >= 50, what="the first events")
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert ours.count() < 400, "the consumer finished before it could be killed"
    worker = start()
    try:
        wait_for(lambda: ours.count() == 400, timeout=90, what="all events after the restart")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0  # finishes the current message, commits, closes
    assert ProcessedEvent.objects.filter(event_id__in=[e.id for e in events]).count() == 400  # lost = 0
    summary = UserActivity.objects.get(user_id=user)
    assert summary.posts == summary.events_seen == 400  # applied twice = 0
    lines = log.read_text().splitlines()
    assert any(f"post.created user={user}" in line and "post_events[" in line for line in lines)
    assert any("SIGTERM received" in line for line in lines)
