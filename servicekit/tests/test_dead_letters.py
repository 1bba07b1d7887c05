"""manage.py dead_letters against the real broker: a failing handler's event is
dead-lettered; once the handler is fixed, a replay applies it exactly once, and what was
replayed is not replayed again by accident."""

import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from widgets.handlers import record_widget_events
from widgets.models import Applied

from servicekit.consumer import EventConsumer, EventHandlers, Received
from servicekit.kafka import ensure_topics
from servicekit.testkit.kafka import make_event, produce_raw, read_topic
from servicekit.topics import admin, commit_offsets, partition_bounds, topic_partitions

pytestmark = pytest.mark.django_db
TOPIC = "widget_events"
#: A consumer of its own (its own group and dead-letter topic), with a bug to fix.
HANDLERS = EventHandlers(group=f"servicekit_tests_replay_{uuid.uuid4().hex[:6]}")
DLQ = HANDLERS.dead_letter_topic
BUG = {"present": True}


@HANDLERS.batch(TOPIC, "widget.created")
def record_unless_buggy(received: list[Received]) -> None:
    if BUG["present"] and any(item.event.data.get("title") == "trips the bug" for item in received):
        raise ValueError("a bug in the handler")
    record_widget_events(received)


@pytest.fixture
def buggy_service(kafka, settings):
    settings.EVENTS = {**settings.EVENTS, "HANDLERS": f"{__name__}.HANDLERS"}
    settings.KAFKA = {**settings.KAFKA, "HANDLER_ATTEMPTS": 1}
    ensure_topics(topics=[DLQ])
    # The group starts where the topic ends now: earlier tests' messages (poison among them)
    # are not this test's dead letters.
    partitions = [(TOPIC, p) for p in topic_partitions(admin(), TOPIC)]
    commit_offsets(HANDLERS.group, {tp: end for tp, (_, end) in partition_bounds(partitions).items()})
    BUG["present"] = True


def consume_until(condition):
    consumer = EventConsumer(HANDLERS)
    consumer.run(condition)
    return consumer


def applied(event):
    return Applied.objects.filter(event_id=event.id).count()


def dead_letters(*args):
    out = io.StringIO()
    call_command("dead_letters", *args, stdout=out)
    return out.getvalue().splitlines()


def test_a_fixed_handler_gets_the_dead_letter_exactly_once(buggy_service):
    fine, tripping = make_event("widget.created", title="fine"), make_event("widget.created", title="trips the bug")
    produce_raw(TOPIC, [(fine.key, fine.to_json()), (tripping.key, tripping.to_json())])
    consume_until(lambda: applied(fine) and any(tripping.id in line for line in dead_letters("list")))
    assert applied(tripping) == 0

    [letter, summary] = dead_letters("list")
    assert " pending age=" in letter and f"widget.created event={tripping.id}" in letter
    assert "error=\"handler failed: ValueError('a bug in the handler')\"" in letter
    assert summary == f"{DLQ}: 1 pending, 0 replayed, 0 skipped"
    letter_id = letter.split()[0]
    shown = dead_letters("show", letter_id)
    assert f"event_id: {tripping.id}" in shown and "header dlq.origin.topic: widget_events" in shown

    assert dead_letters("replay", "--dry-run")[0].startswith(f"would replay {letter_id} from widget_events[")
    BUG["present"] = False  # the fix is deployed
    replayed = dead_letters("replay")
    assert replayed[0].startswith(f"replayed {letter_id} from widget_events[") and tripping.id in replayed[0]
    assert replayed[-1] == f"1 replayed, 0 not; 0 pending on {DLQ}"
    consume_until(lambda: applied(tripping))

    # Not again by accident: the second replay has nothing to do, and the letter says so.
    assert dead_letters("replay") == [f"0 replayed, 0 not; 0 pending on {DLQ}"]
    [doc] = [json.loads(line) for line in dead_letters("list", "--all", "--json")]
    assert (doc["letter"], doc["state"], doc["event_id"]) == (letter_id, "replayed", tripping.id)
    with pytest.raises(CommandError, match=f"letter {letter_id} was replayed already"):
        call_command("dead_letters", "replay", letter_id, stdout=io.StringIO())

    # On purpose, again: at least once, and the consumer skips what it applied.
    dead_letters("replay", letter_id, "--again")
    copies = [m for m in read_topic(TOPIC) if m.key == tripping.key]
    assert len(copies) == 3  # the original and two replays
    partition, offset = letter_id.split(":")
    assert {m.headers.get("dlq.replayed-from") for m in copies[1:]} == {f"{DLQ}[{partition}]@{offset}".encode()}
    assert all("dlq.error" not in m.headers and m.value == tripping.to_json() for m in copies)
    consumer = EventConsumer(HANDLERS)
    consumer.run(lambda: consumer.counts["duplicates"] >= 1)  # the second replay, skipped
    assert applied(tripping) == 1 and applied(fine) == 1


def test_a_malformed_letter_is_refused_in_one_line_and_can_be_skipped(buggy_service):
    marker = f"junk-{uuid.uuid4()}"
    produce_raw(DLQ, [(marker, b"written here by hand")])
    [junk] = [line.split()[0] for line in dead_letters("list") if "(not an event)" in line]
    with pytest.raises(CommandError, match=r"^0 replayed, 1 not; 1 pending on .*dead_letters skip LETTER"):
        call_command("dead_letters", "replay", stdout=(out := io.StringIO()))
    assert out.getvalue().splitlines() == [f"not replayed {junk}: no dlq.origin.topic/dlq.origin.partition header: "
                                           "not a dead letter of servicekit's consumer"]  # fmt: skip
    assert dead_letters("skip", junk, "--reason", "written by hand") == [f"skipped {junk} from - (not an event)"]
    assert dead_letters("list")[-1].startswith(f"{DLQ}: 0 pending, ")  # whatever earlier tests replayed
    assert dead_letters("list", "--all")[-1].endswith(" 1 skipped")
    with pytest.raises(CommandError, match=f"^no dead letter 0:999 on {DLQ}$"):
        call_command("dead_letters", "show", "0:999", stdout=io.StringIO())
    with pytest.raises(CommandError, match="not a letter: '12'"):
        call_command("dead_letters", "show", "12")
