"""``manage.py run_workers``: a service's relay and consumer in one process (make run, compose)."""

import re
import signal
import subprocess
import time
import uuid

import pytest
from widgets.models import Applied
from widgets.services import widget_create

from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.service import manage_py

pytestmark = pytest.mark.django_db(transaction=True)


def wait_for(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_both_loops_run_and_a_sigterm_stops_them_cleanly(kafka, tmp_path):
    """The test service publishes widget events and consumes them: a widget written goes
    out through its relay and comes back through its consumer, in one process."""
    log = tmp_path / "workers.log"
    workers = manage_py("run_workers", env={"HEARTBEAT_FILE": str(tmp_path / "heartbeat")},
                        stdout=log.open("w"), stderr=subprocess.STDOUT)  # fmt: skip
    try:
        widget = widget_create(user_id=uuid.uuid4(), title="round trip")
        wait_for(lambda: Applied.objects.filter(subject=str(widget.id)).exists())
        assert not OutboxEvent.objects.exists()
        assert (tmp_path / "heartbeat").exists()
    finally:
        workers.send_signal(signal.SIGTERM)
        assert workers.wait(30) == 0, log.read_text()
    text = log.read_text()
    assert "outbox relay started" in text
    assert re.search(r"consuming .*widget_events", text)


def test_a_failing_loop_stops_the_other_and_the_process_with_an_error(kafka, monkeypatch, caplog):
    from django.core.management import call_command

    from servicekit.consumer import EventConsumer
    from servicekit.outbox.relay import OutboxRelay
    from servicekit.shutdown import StopFlag

    stopped = []

    def relay_runs_until_stopped(self, should_stop):
        while not should_stop():
            time.sleep(0.01)
        stopped.append("relay")

    def consumer_breaks(self, should_stop):
        raise RuntimeError("a bug in the consumer")

    monkeypatch.setattr(StopFlag, "install", lambda self: self)  # no signal handlers in the test process
    monkeypatch.setattr(OutboxRelay, "run", relay_runs_until_stopped)
    monkeypatch.setattr(EventConsumer, "wait_for_own_topics", lambda self, should_stop: None)
    monkeypatch.setattr(EventConsumer, "run", consumer_breaks)
    with pytest.raises(SystemExit) as exited:
        call_command("run_workers")
    assert exited.value.code == 1 and stopped == ["relay"]
    assert "consumer loop failed; stopping the others" in caplog.text
