"""Events in → records and summaries out, through the consumer loop's batch path."""

import threading
import uuid

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from activity.handlers import HANDLERS
from activity.models import Event, KnownObject, UserActivity
from activity.services import events_record
from servicekit.consumer import Delivery, EventConsumer, Received
from servicekit.inbox.models import DeletedUser, ProcessedEvent
from servicekit.testkit.kafka import FakeMessage, make_event, topic_of

pytestmark = pytest.mark.django_db

EVERY_TYPE = ["user.registered", "user.updated", "user.logged_in", "user.deleted", "post.created", "post.updated",
              "post.deleted", "note.created", "note.updated", "note.deleted"]  # fmt: skip


class OffsetRecorder:
    """Stands in for the Kafka consumer: records the offsets stored."""

    def __init__(self):
        self.stored = []

    def store_offsets(self, message):
        self.stored.append(message.offset())


class NoBroker:
    def __getattr__(self, name):
        raise AssertionError(f"unexpected Kafka call: {name}")


@pytest.fixture
def consumer():
    return EventConsumer(HANDLERS, consumer=OffsetRecorder(), producer=NoBroker())


def message(event, offset=0):
    return FakeMessage(event.to_json(), topic=topic_of(event.type), offset=offset)


def deliver(consumer, *events):
    consumer.handle_batch([message(e, offset) for offset, e in enumerate(events)])


def received(event):
    return Received(event, Delivery(topic_of(event.type), 0, 0))


def summary_of(user):
    return UserActivity.objects.get(user_id=user)


def test_a_batch_is_applied_in_order_with_offsets_stored_after_commit(consumer):
    user = uuid.uuid4()
    post = make_event("post.created", user_id=user)
    deliver(consumer, post, make_event("note.created", user_id=user), post,
            make_event("post.deleted", user_id=user, subject=post.subject))  # fmt: skip
    assert consumer.consumer.stored == [0, 1, 2, 3]
    summary = summary_of(user)
    assert (summary.posts, summary.notes, summary.events_seen) == (0, 1, 3)  # the repeat is skipped


def test_every_valid_event_is_stored_with_its_origin_known_type_or_not(consumer):
    user = uuid.uuid4()
    # Every type but user.deleted, which erases the user (below).
    events = [make_event(t, user_id=user) for t in [*EVERY_TYPE, "post.archived"] if t != "user.deleted"]
    deliver(consumer, *events)
    assert Event.objects.count() == len(events)
    stored = Event.objects.get(type="note.created")
    assert stored.topic == "note_events" and stored.user_id == user and stored.data["id"] == stored.subject
    assert Event.objects.filter(type="post.archived").exists()  # a type this service has never heard of
    assert summary_of(user).events_seen == len(events)


def test_event_data_is_stored_exactly_and_a_user_is_one_summary_however_their_id_is_spelled(consumer):
    user = uuid.uuid4()
    data = {"big": 10**30, "ratio": 0.1, "text": 'café \u2603 "quoted"', "nested": {"list": [1, None, True]}}
    spelled = [str(user), str(user).upper(), user.hex]  # what uuid.UUID reads, canonical or not
    deliver(consumer, make_event("note.created", user_id=spelled[0], **data),
            *(make_event("post.created", user_id=spelling) for spelling in spelled[1:]))  # fmt: skip
    stored = Event.objects.get(type="note.created").data
    assert {name: stored[name] for name in data} == data  # the integer beyond 64 bits too
    assert UserActivity.objects.count() == 1
    assert (summary_of(user).posts, summary_of(user).notes, summary_of(user).events_seen) == (2, 1, 3)


def test_summaries_of_several_users_in_one_batch(consumer):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    posts = [make_event("post.created", user_id=alice) for _ in range(3)]
    notes = [make_event("note.created", user_id=bob) for _ in range(2)]
    deleted = make_event("post.deleted", user_id=alice, subject=posts[0].subject)
    updated = make_event("post.updated", user_id=alice, subject=posts[1].subject)
    deliver(consumer, *posts, *notes, deleted, updated)
    assert (summary_of(alice).posts, summary_of(alice).events_seen) == (2, 5)
    assert (summary_of(bob).notes, summary_of(bob).events_seen) == (2, 2)
    assert summary_of(alice).last_event_type == "post.updated"
    assert summary_of(alice).last_activity_at == updated.timestamp


def test_batches_add_up_to_what_single_events_give(consumer):
    user = uuid.uuid4()
    first = [make_event("post.created", user_id=user) for _ in range(4)]
    deliver(consumer, *first)
    deliver(consumer, *(make_event("post.deleted", user_id=user, subject=e.subject) for e in first[:3]),
            make_event("note.created", user_id=user))  # fmt: skip
    assert (summary_of(user).posts, summary_of(user).notes, summary_of(user).events_seen) == (1, 1, 8)


def test_counters_count_each_object_once_whatever_says_it_exists_and_in_whatever_order(consumer):
    user = uuid.uuid4()
    post = make_event("post.created", user_id=user)
    snapshot = make_event("post.snapshot", user_id=user, subject=post.subject)
    # Created, then a snapshot of it (republished state), an update: one post.
    deliver(consumer, post)
    deliver(consumer, snapshot, make_event("post.updated", user_id=user, subject=post.subject))
    assert summary_of(user).posts == 1
    # A snapshot of a post this service never saw created (its topic dropped the event): it exists.
    deliver(consumer, make_event("post.snapshot", user_id=user))
    assert summary_of(user).posts == 2
    # Deleted, then an older event about it, replayed late: it stays gone.
    deliver(consumer, make_event("post.deleted", user_id=user, subject=post.subject))
    deliver(consumer, make_event("post.snapshot", user_id=user, subject=post.subject))
    assert summary_of(user).posts == 1
    assert KnownObject.objects.filter(subject=post.subject, deleted=True).exists()


def test_a_delete_of_an_object_never_heard_of_moves_nothing(consumer):
    user = uuid.uuid4()
    # Its create fell out of the topic's retention: counters never go below zero.
    deliver(consumer, make_event("note.deleted", user_id=user), make_event("note.created", user_id=user))
    assert summary_of(user).notes == 1
    deliver(consumer, make_event("note.deleted", user_id=user), make_event("note.deleted", user_id=user))
    assert summary_of(user).notes == 1


def test_the_last_activity_only_moves_forward(consumer):
    user = uuid.uuid4()
    late = make_event("post.created", user_id=user)
    early = make_event("note.created", user_id=user)
    early = type(early)(**{**early.__dict__, "time": "2020-01-01T00:00:00.000000Z"})
    deliver(consumer, late)
    deliver(consumer, early)
    assert summary_of(user).last_event_type == "post.created" and summary_of(user).events_seen == 2


def test_redelivered_event_is_applied_once(consumer):
    event = make_event("post.created")
    for _ in range(2):
        deliver(consumer, event, event)
    assert Event.objects.count() == 1 and ProcessedEvent.objects.count() == 1
    assert summary_of(event.userid).posts == 1


def test_user_deleted_erases_the_users_events_and_summary_and_no_one_elses(consumer):
    doomed, other = uuid.uuid4(), uuid.uuid4()
    deliver(consumer, *(make_event(t, user_id=doomed) for t in EVERY_TYPE if t != "user.deleted"),
            make_event("post.created", user_id=other))  # fmt: skip
    assert Event.objects.filter(user_id=doomed).count() == len(EVERY_TYPE) - 1
    deliver(consumer, make_event("user.deleted", user_id=doomed))
    assert not Event.objects.filter(user_id=doomed).exists()
    assert not UserActivity.objects.filter(user_id=doomed).exists()
    assert DeletedUser.objects.filter(user_id=doomed).exists()  # the id, to drop what comes later
    assert Event.objects.filter(user_id=other).count() == 1 and summary_of(other).posts == 1


def test_a_deleted_users_later_events_are_not_stored_whatever_their_type(consumer):
    doomed = uuid.uuid4()
    deleted = make_event("user.deleted", user_id=doomed)
    deliver(consumer, deleted)
    # The cascade's own deletes, a late duplicate of an old event, a replay, a snapshot.
    later = [make_event("post.deleted", user_id=doomed), make_event("note.deleted", user_id=doomed),
             make_event("user.logged_in", user_id=doomed), make_event("post.snapshot", user_id=doomed)]  # fmt: skip
    deliver(consumer, *later, deleted)
    assert not Event.objects.filter(user_id=doomed).exists()
    assert not UserActivity.objects.filter(user_id=doomed).exists()
    assert ProcessedEvent.objects.filter(event_id__in=[e.id for e in later]).count() == len(later)
    assert DeletedUser.objects.filter(user_id=doomed).count() == 1  # the replay changed nothing


def test_events_on_both_sides_of_a_deletion_in_one_batch_are_not_stored(consumer):
    doomed, other = uuid.uuid4(), uuid.uuid4()
    deliver(consumer, make_event("post.created", user_id=doomed), make_event("note.created", user_id=other),
            make_event("user.deleted", user_id=doomed), make_event("post.deleted", user_id=doomed))  # fmt: skip
    assert not Event.objects.filter(user_id=doomed).exists() and not UserActivity.objects.filter(user_id=doomed)
    assert summary_of(other).notes == 1


def test_erasing_costs_the_same_statements_for_one_user_as_for_fifty(consumer):
    def batch(users):
        for user in users:
            yield make_event("post.created", user_id=user)
            yield make_event("user.deleted", user_id=user)
            yield make_event("post.deleted", user_id=user)
        yield make_event("note.created")  # someone who stays

    with CaptureQueriesContext(connection) as one:
        deliver(consumer, *batch([uuid.uuid4()]))
    with CaptureQueriesContext(connection) as fifty:
        deliver(consumer, *batch([uuid.uuid4() for _ in range(50)]))
    assert len(fifty) == len(one), [q["sql"][:80] for q in fifty]
    assert DeletedUser.objects.count() == 51 and Event.objects.count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_batch_recording_while_another_consumer_erases_that_user_stores_nothing_of_them():
    """Two consumer processes (partitions of user_events and post_events): an erasure commits
    while the other batch is under way. Whichever order they meet in, none of the deleted
    user's events survives."""
    doomed = uuid.uuid4()
    erasing, recorded = threading.Event(), threading.Event()

    def erase():
        try:
            with transaction.atomic():
                events_record(received=[received(make_event("user.deleted", user_id=doomed))])
                erasing.set()
                recorded.wait(0.5)  # the other batch runs meanwhile (it cannot finish: the lock)
        finally:
            connection.close()

    def record():
        try:
            erasing.wait(5)
            with transaction.atomic():
                events_record(received=[received(make_event("post.created", user_id=doomed))])
            recorded.set()
        finally:
            connection.close()

    threads = [threading.Thread(target=erase), threading.Thread(target=record)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert recorded.is_set()
    assert not Event.objects.filter(user_id=doomed).exists()
    assert not UserActivity.objects.filter(user_id=doomed).exists()


def test_each_processed_event_is_logged_as_one_readable_line(consumer, caplog):
    event = make_event("note.created")
    with caplog.at_level("INFO", logger="servicekit.consumer"):
        consumer.handle_batch([message(event, offset=42)])
    [record] = [r for r in caplog.records if r.name == "servicekit.consumer"]
    line = record.getMessage()
    assert line.startswith(f"note.created user={event.userid} subject={event.subject} note_events[0]@42 lag=")
    assert line.endswith("ms")
    assert record.event_id == event.id and record.offset == 42


def test_revocations_are_recorded_like_every_event_and_refuse_the_earlier_tokens(consumer):
    from rest_framework.test import APIClient

    from servicekit.testkit.tokens import mint_access_token

    user = uuid.uuid4()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_access_token(user)}")
    assert client.get("/api/activity/me/").status_code == 200
    revoked = make_event("user.sessions_revoked", user_id=user, not_before=make_event("user.updated").time,
                         session=None, reason="logout_everywhere")  # fmt: skip
    deliver(consumer, make_event("user.updated", user_id=user), revoked)
    assert Event.objects.filter(user_id=user).count() == 2 and summary_of(user).events_seen == 2
    for path in ("/api/activity/me/", "/api/events/"):
        response = client.get(path)
        assert response.status_code == 401 and response.json() == {"detail": "Token has been revoked."}


def test_the_admin_is_off_unless_enabled(client):
    assert client.get("/admin/").status_code == 404
