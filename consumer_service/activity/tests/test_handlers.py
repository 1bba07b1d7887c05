"""Events in → records and summaries out, through the real consumer loop's handling step."""

import uuid

import pytest

from activity.handlers import HANDLERS
from activity.models import Event, UserActivity
from servicekit.consumer import EventConsumer
from servicekit.events import EventType
from servicekit.inbox.models import ProcessedEvent
from servicekit.testkit.kafka import FakeMessage, make_event

pytestmark = pytest.mark.django_db


class OffsetRecorder:
    """Stands in for the Kafka consumer: valid events only ever have their offsets stored."""

    def __init__(self):
        self.stored = []

    def store_offsets(self, message):
        self.stored.append(message.offset())


class NoBroker:
    def __getattr__(self, name):
        raise AssertionError(f"unexpected Kafka call: {name}")


@pytest.fixture
def consumer():
    return EventConsumer(group="consumer_service", topics=["post_events"], handlers=HANDLERS,
                         consumer=OffsetRecorder(), producer=NoBroker())  # fmt: skip


def message(event, offset=0):
    return FakeMessage(event.to_json(), topic=event.topic.value, offset=offset)


def deliver(consumer, event, offset=0):
    consumer.handle_batch([message(event, offset)], lambda: False)


def test_a_batch_is_applied_in_order_with_offsets_stored_after_commit(consumer):
    user = uuid.uuid4()
    post = make_event("post.created", user_id=user)
    batch = [post, make_event("note.created", user_id=user), post, make_event("post.deleted", user_id=user,
             subject=post.subject)]  # fmt: skip
    consumer.handle_batch([message(e, offset) for offset, e in enumerate(batch)], lambda: False)
    assert consumer.consumer.stored == [0, 1, 2, 3]
    summary = UserActivity.objects.get(user_id=user)
    assert (summary.posts, summary.notes, summary.events_seen) == (0, 1, 3)  # the repeat is skipped


def test_every_event_is_stored_with_its_origin(consumer):
    user = uuid.uuid4()
    for offset, event_type in enumerate(EventType):
        deliver(consumer, make_event(event_type, user_id=user), offset)
    assert Event.objects.count() == len(EventType)
    stored = Event.objects.get(type="note.created")
    assert stored.topic == "note_events" and stored.user_id == user and stored.data["id"] == stored.subject
    assert UserActivity.objects.get(user_id=user).events_seen == len(EventType)


def test_summary_counts_existing_posts_and_notes(consumer):
    user = uuid.uuid4()
    posts = [make_event("post.created", user_id=user) for _ in range(3)]
    notes = [make_event("note.created", user_id=user) for _ in range(2)]
    for event in [*posts, *notes]:
        deliver(consumer, event)
    deliver(consumer, make_event("post.deleted", user_id=user, subject=posts[0].subject))
    deliver(consumer, make_event("post.updated", user_id=user, subject=posts[1].subject))
    summary = UserActivity.objects.get(user_id=user)
    assert (summary.posts, summary.notes, summary.events_seen) == (2, 2, 7)
    assert summary.last_event_type == "post.updated"
    assert summary.last_activity_at is not None


def test_redelivered_event_is_applied_once(consumer):
    event = make_event("post.created")
    for offset in (5, 5, 9):  # the same offset again, then a duplicate later on the topic
        deliver(consumer, event, offset)
    assert Event.objects.count() == 1 and ProcessedEvent.objects.count() == 1
    assert UserActivity.objects.get(user_id=event.userid).posts == 1


def test_counters_never_go_negative(consumer):
    event = make_event("note.deleted")
    deliver(consumer, event)
    assert UserActivity.objects.get(user_id=event.userid).notes == 0


def test_user_deleted_marks_the_summary(consumer):
    event = make_event("user.deleted")
    deliver(consumer, event)
    assert UserActivity.objects.get(user_id=event.userid).account_deleted


def test_each_processed_event_is_logged_as_one_readable_line(consumer, caplog):
    event = make_event("note.created")
    with caplog.at_level("INFO", logger="servicekit.consumer"):
        deliver(consumer, event, offset=42)
    [record] = [r for r in caplog.records if r.name == "servicekit.consumer"]
    line = record.getMessage()
    assert line.startswith(f"note.created user={event.userid} subject={event.subject} note_events[0]@42 lag=")
    assert line.endswith("ms")
    assert record.event_id == event.id and record.offset == 42


@pytest.mark.django_db(transaction=True)  # the handler breaks the connection: no test-wide transaction
def test_offsets_are_never_stored_for_a_batch_that_was_rolled_back(consumer):
    """A handler whose connection dies and that then raises something else: Django can only
    mark the transaction for rollback. The batch must be retried, not reported as done."""
    from django.db import connection

    from servicekit.inbox.models import ProcessedEvent

    broke = []

    def breaks_its_connection_once(event, delivery):
        if event.id == events[1].id and not broke:  # after the first event went in, uncommitted
            broke.append(event.id)
            try:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_terminate_backend(pg_backend_pid())")
            except Exception:  # noqa: BLE001, S110 - swallowed on purpose, as a buggy handler might
                pass
            raise RuntimeError("a bug after the connection died")
        HANDLERS[event.type](event, delivery)

    events = [make_event("post.created") for _ in range(3)]
    consumer.handlers = dict.fromkeys(EventType, breaks_its_connection_once)
    consumer.handle_batch([message(e, offset) for offset, e in enumerate(events)], lambda: False)
    assert broke
    assert ProcessedEvent.objects.filter(event_id__in=[e.id for e in events]).count() == 3
    assert sorted(consumer.consumer.stored) == [0, 1, 2]  # each stored once, after its commit
