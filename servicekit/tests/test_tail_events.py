"""manage.py tail_events and servicekit.topics against the real broker: what is printed,
where reading starts, and the errors an operator gets."""

import io
import json
import subprocess
import time
import uuid
from datetime import UTC, datetime

import pytest
from django.core.management import CommandError, call_command

from servicekit.testkit.kafka import make_event, produce_raw
from servicekit.testkit.service import manage_py
from servicekit.topics import admin, partition_ends, read, topic_partitions

TOPIC = "widget_events"


def produce(*events):
    produce_raw(TOPIC, [(event.key, event.to_json()) for event in events])


def tail(*args):
    out = io.StringIO()
    call_command("tail_events", TOPIC, *args, stdout=out)
    return out.getvalue().splitlines()


def test_from_the_beginning_one_line_per_event_with_filters_and_json(kafka):
    user = uuid.uuid4()
    created = make_event("widget.created", user_id=user, title="Hello")
    updated = make_event("widget.updated", user_id=user, subject=created.subject, title="Hello, world")
    someone_else = make_event("widget.created", title="not theirs")
    produce(created, updated, someone_else)

    lines = tail("--from", "beginning", "--no-follow", "--user", str(user))
    assert len(lines) == 2
    first, second = lines
    assert first.startswith(created.time[:23]) and f" widget.created key={created.subject} user={user} " in first
    assert first.endswith('title="Hello"') and "widget_events[" in first
    assert second.endswith('title="Hello, world"')

    assert tail("--from", "beginning", "--no-follow", "--user", str(user), "--type", "*.updated") == [second]
    [doc] = [json.loads(line) for line in tail("--from", "beginning", "--no-follow", "--user", str(user), "--type",
                                                "widget.updated", "--json")]  # fmt: skip
    assert doc["event"] == updated.to_dict() and doc["key"] == created.subject
    assert doc["headers"] == {"content-type": "application/cloudevents+json"}


def test_a_message_that_is_no_event_is_shown_as_such(kafka):
    marker = f"poison-{uuid.uuid4()}"
    produce_raw(TOPIC, [(marker, b"not json")])
    [line] = [line for line in tail("--from", "beginning", "--no-follow") if marker in line]
    assert f" INVALID key={marker} not JSON" in line and line.endswith('value="not json"')


def test_from_now_prints_only_what_arrives_even_after_a_burst(kafka):
    """The embedded broker's watermark lags behind a burst (its last batch); "now" is the
    real end, found by reading, so nothing of the burst is printed again."""
    user = uuid.uuid4()
    produce(*[make_event("widget.created", user_id=user, title=f"old {i}") for i in range(300)])
    ends = partition_ends([(TOPIC, p) for p in topic_partitions(admin(), TOPIC)])
    assert sum(ends.values()) == len(list(read(TOPIC)))  # the real ends, whatever the watermark says
    follower = manage_py("tail_events", TOPIC, "--user", str(user), "--limit", "1", stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        time.sleep(4)  # Django's startup and the first read, on a loaded machine
        produce(make_event("widget.created", user_id=user, title="new"))
        out, err = follower.communicate(timeout=30)
    finally:
        follower.kill()
    assert follower.returncode == 0, err
    [line] = out.splitlines()
    assert line.endswith('title="new"')


def test_from_a_time_starts_at_the_first_event_at_or_after_it(kafka):
    user = uuid.uuid4()
    produce(make_event("widget.created", user_id=user, title="before"))
    time.sleep(0.05)
    since = datetime.now(UTC)
    time.sleep(0.05)
    produce(make_event("widget.created", user_id=user, title="after"))
    lines = tail("--from", since.isoformat(), "--no-follow", "--user", str(user))
    assert [line.rsplit(" ", 1)[-1] for line in lines] == ['title="after"']


def test_bad_input_is_one_line_and_a_non_zero_exit(kafka, settings):
    with pytest.raises(CommandError, match=r"^no topic 'nope' on 127\.0\.0\.1:\d+ \(topics: .*widget_events"):
        call_command("tail_events", "nope", "--no-follow")
    with pytest.raises(CommandError, match=r"^offset 99999 is out of range for widget_events\[0\]: it holds 0\.\.\d+$"):
        call_command("tail_events", TOPIC, "--from", "99999", "--partition", "0", "--no-follow")
    with pytest.raises(CommandError, match=r"^widget_events has no partition 7 \(it has 0, 1, 2\)$"):
        call_command("tail_events", TOPIC, "--partition", "7", "--no-follow")
    with pytest.raises(CommandError, match="not a time: 'yesterday'"):
        call_command("tail_events", TOPIC, "--from", "yesterday")
    process = manage_py("tail_events", TOPIC, env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}, stdout=subprocess.PIPE,
                        stderr=subprocess.PIPE, text=True)  # fmt: skip
    out, err = process.communicate(timeout=60)
    assert process.returncode == 1 and not out
    assert err.strip().splitlines() == ["CommandError: the broker at 127.0.0.1:1 does not answer "
                                        "(Failed to get metadata: Local: Broker transport failure)"]  # fmt: skip
