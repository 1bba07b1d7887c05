"""manage.py rebuild_activity against the real broker: the rebuilt read model equals the
live one, and the rebuild refuses to run under a live consumer."""

import io
import signal
import subprocess
import time
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.forms.models import model_to_dict

from activity.handlers import HANDLERS
from activity.models import Event, KnownObject, UserActivity
from servicekit.consumer import EventConsumer
from servicekit.ops.rebuild import consume_until_caught_up
from servicekit.testkit.kafka import make_event, produce_raw, topic_of
from servicekit.testkit.service import manage_py
from servicekit.topics import admin, commit_offsets, group_state, partition_bounds, topic_partitions

pytestmark = pytest.mark.django_db


def bounds():
    client = admin()
    return partition_bounds([(t, p) for t in HANDLERS.topics for p in topic_partitions(client, t)])


def read_model():
    events = sorted(tuple(sorted((k, str(v)) for k, v in model_to_dict(e).items() if k != "received_at"))
                    for e in Event.objects.all())  # fmt: skip
    rows = [sorted(tuple(sorted(model_to_dict(row).items())) for row in model.objects.all())
            for model in (UserActivity, KnownObject)]  # fmt: skip
    return events, *rows


def test_the_rebuilt_model_equals_the_live_one(kafka):
    # The live model, built from the start of the topics (earlier tests left events there).
    commit_offsets(HANDLERS.group, {partition: first for partition, (first, _) in bounds().items()})
    alice, bob = uuid.uuid4(), uuid.uuid4()
    post = make_event("post.created", user_id=alice)
    events = [
        make_event("user.registered", user_id=alice), post, make_event("note.created", user_id=alice),
        make_event("post.updated", user_id=alice, subject=post.subject), make_event("post.snapshot", user_id=bob),
        make_event("note.created", user_id=bob), make_event("post.deleted", user_id=alice, subject=post.subject),
        make_event("post.snapshot", user_id=alice, subject=post.subject), make_event("user.deleted", user_id=bob),
    ]  # fmt: skip
    for event in [*events, events[1]]:  # one delivered twice
        produce_raw(topic_of(event.type), [(event.key, event.to_json())])
    live = EventConsumer(HANDLERS)
    consume_until_caught_up(live, {partition: end for partition, (_, end) in bounds().items()}, lambda: False)
    before = read_model()
    assert UserActivity.objects.get(user_id=alice).posts == 0
    assert not UserActivity.objects.filter(user_id=bob).exists()  # deleted: forgotten, whatever came first

    out = io.StringIO()
    call_command("rebuild_activity", stdout=out)
    assert out.getvalue().startswith("rebuilt the activity model from ")
    assert read_model() == before
    assert len(before[0]) >= len(events)


@pytest.mark.django_db(transaction=True)
def test_it_refuses_while_a_consumer_is_in_the_group(kafka, tmp_path):
    worker = manage_py("consume_events", stdout=(tmp_path / "consumer.log").open("w"), stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while group_state(HANDLERS.group) != "stable":
            assert time.monotonic() < deadline, (tmp_path / "consumer.log").read_text()
            time.sleep(0.2)
        with pytest.raises(CommandError, match=r"^consumer group consumer_service is stable: stop its consumers"):
            call_command("rebuild_activity")
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(20) == 0
