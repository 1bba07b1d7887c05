"""consume_events against a real broker: every event applied once, through faults."""

import signal
import subprocess
import time
import uuid

import pytest

from activity.handlers import HANDLERS
from activity.models import Event, UserActivity
from servicekit.consumer import EventConsumer
from servicekit.inbox.models import ProcessedEvent
from servicekit.testkit.kafka import make_event, produce_raw, topic_of
from servicekit.testkit.service import manage_py


def produce_events(events):
    by_topic = {}
    for event in events:
        by_topic.setdefault(topic_of(event.type), []).append((event.key, event.to_json()))
    for topic, messages in by_topic.items():
        produce_raw(topic, messages)


def in_process_consumer():
    return EventConsumer(HANDLERS, group=f"consumer_service-{uuid.uuid4().hex[:8]}")


def wait_for(condition, timeout=60.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.django_db
def test_all_topics_are_consumed_and_summarised(kafka):
    user = uuid.uuid4()
    post = make_event("post.created", user_id=user)
    events = [
        make_event("user.registered", user_id=user),
        post,
        make_event("note.created", user_id=user),
        make_event("post.deleted", user_id=user, subject=post.subject),
    ]
    produce_events(events)
    ids = {e.id for e in events}
    in_process_consumer().run(lambda: ProcessedEvent.objects.filter(event_id__in=ids).count() == 4)
    summary = UserActivity.objects.get(user_id=user)
    assert (summary.posts, summary.notes, summary.events_seen) == (0, 1, 4)
    assert {str(i) for i in Event.objects.filter(user_id=user).values_list("id", flat=True)} == ids


@pytest.mark.django_db(transaction=True)
def test_consumer_killed_mid_stream_loses_nothing_and_applies_nothing_twice(kafka, tmp_path):
    user = uuid.uuid4()
    events = [make_event("post.created", user_id=user) for _ in range(400)]
    produce_events(events)
    ours = Event.objects.filter(user_id=user)
    log = tmp_path / "consumer.log"

    def start():
        return manage_py(
            "consume_events", env={"CONSUMER_BATCH_SIZE": "20"}, stdout=log.open("a"), stderr=subprocess.STDOUT
        )

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
