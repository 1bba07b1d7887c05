"""manage.py outbox: parked rows listed, retried and discarded from the command line, with a
running relay that publishes what waited behind them."""

import io
import json
import signal
import subprocess
import time

import pytest
from django.core.management import CommandError, call_command
from widgets.services import widget_update

from servicekit.outbox.models import OutboxEvent, PublishedEvent
from servicekit.testkit.service import manage_py

pytestmark = pytest.mark.django_db(transaction=True)


def outbox(*args):
    out = io.StringIO()
    call_command("outbox", *args, stdout=out)
    return out.getvalue().splitlines()


def oversized(widget):
    """The widget's first event, made too large for the broker (as a real one could be)."""
    row = OutboxEvent.objects.filter(key=str(widget.id)).order_by("id").first()
    row.payload["data"]["title"] = "x" * 1_100_000
    row.save()
    return row


def wait_for(condition, what, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


@pytest.fixture
def relay(kafka, tmp_path):
    """A relay that, idle, waits on LISTEN for 120 s: only a NOTIFY makes it look again soon."""
    process = manage_py("relay_outbox", env={"OUTBOX_IDLE_WAIT_SECONDS": "120"},
                        stdout=(tmp_path / "relay.log").open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    yield
    process.send_signal(signal.SIGTERM)
    assert process.wait(15) == 0


def test_parked_rows_are_listed_then_retried_or_discarded_and_their_keys_follow(make_widgets, relay, caplog):
    [retried, discarded] = make_widgets(2)
    heads = [oversized(retried), oversized(discarded)]
    for widget in (retried, discarded):
        widget_update(widget=widget, title="after")
    wait_for(lambda: OutboxEvent.objects.filter(parked_at__isnull=False).count() == 2, "both heads parked")

    lines = outbox("list", "--parked")
    assert [line.split()[:3] for line in lines[:2]] == [[str(heads[0].id), "parked", "widget.created"],
                                                        [str(heads[1].id), "parked", "widget.created"]]  # fmt: skip
    assert "MSG_SIZE_TOO_LARGE" in lines[0]
    assert lines[-1].startswith("outbox: 2 pending (oldest ") and lines[-1].endswith(", 2 parked")
    [doc] = [json.loads(line) for line in outbox("list", "--parked", "--json", "--limit", "1")]
    assert (doc["id"], doc["state"], doc["attempts"]) == (heads[0].id, "parked", 1)

    # The cause fixed (a smaller event), the head is retried and its key follows.
    OutboxEvent.objects.filter(id=heads[0].id).update(payload={**heads[0].payload, "data": {
        **heads[0].payload["data"], "title": "shortened"}})  # fmt: skip
    assert outbox("retry", str(heads[0].id)) == [
        f"retrying {heads[0].id} widget.created key={retried.id}; 1 later event(s) of its key follow it",
        "1 parked row(s) will be published again",
    ]
    wait_for(lambda: not OutboxEvent.objects.filter(key=str(retried.id)).exists(), "the retried key to go")

    # Discarded: never published; what waited behind it goes at once (the relay is asked to rescan).
    assert outbox("discard", str(heads[1].id), "--reason", "too large, and nobody needs it") == [
        f"discarded {heads[1].id} widget.created key={discarded.id} (event {heads[1].event_id}, never published); "
        "1 later event(s) of its key can go now"
    ]
    wait_for(lambda: not OutboxEvent.objects.exists(), "the discarded row's key to go")
    assert not PublishedEvent.objects.filter(event_id=heads[1].event_id).exists()
    assert "discarded by an operator: too large, and nobody needs it" in caplog.text


def test_ids_that_are_not_parked_are_refused_and_nothing_changes(make_widgets):
    [widget] = make_widgets(1)
    row = OutboxEvent.objects.get(key=str(widget.id))
    with pytest.raises(CommandError, match=f"^outbox row {row.id} is pending, not parked .*; nothing was changed$"):
        call_command("outbox", "discard", str(row.id), "--reason", "oops")
    with pytest.raises(CommandError, match=r"^outbox row 999999 is not in the outbox; nothing was changed$"):
        call_command("outbox", "retry", "999999")
    with pytest.raises(CommandError, match="retry needs row ids or --all-parked"):
        call_command("outbox", "retry")
    assert OutboxEvent.objects.filter(id=row.id).exists()
