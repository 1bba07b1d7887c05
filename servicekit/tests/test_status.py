"""manage.py status against the real broker and PostgreSQL: the figures, and a non-zero exit
naming what is wrong."""

import io
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from servicekit.outbox.models import OutboxEvent

pytestmark = pytest.mark.django_db


def status(*args):
    out = io.StringIO()
    try:
        call_command("status", "--json", *args, stdout=out)
        failed = None
    except CommandError as exc:
        failed = exc
    return json.loads(out.getvalue()), failed


def test_backlog_parked_rows_a_missing_consumer_and_an_unready_server_are_named(kafka, make_widgets):
    make_widgets(2)
    OutboxEvent.objects.filter(id=OutboxEvent.objects.order_by("id").first().id).update(parked_at=timezone.now())
    doc, failed = status("--ready-url", "http://127.0.0.1:1/readyz", "--max-age", "3600")
    assert failed is not None and failed.returncode == 1
    assert doc["outbox"]["pending"] == 1 and doc["outbox"]["parked"] == 1
    assert doc["outbox"]["oldest_pending_seconds"] < 60
    assert doc["consumer"]["group"] == "servicekit_tests"
    assert set(doc["consumer"]["lag"]) == {"widget_events", "user_events"}  # (its token revocations)
    assert doc["ready"] is False
    problems = "\n".join(doc["problems"])
    assert "not ready: http://127.0.0.1:1/readyz does not answer" in problems
    assert "1 parked outbox row(s)" in problems
    assert "no consumer in group servicekit_tests" in problems


def test_lag_counts_what_the_group_has_not_committed_up_to_the_real_end(kafka):
    from servicekit.testkit.kafka import make_event, produce_raw
    from servicekit.topics import admin, commit_offsets, partition_bounds, topic_partitions

    parts = [("widget_events", p) for p in topic_partitions(admin(), "widget_events")]
    commit_offsets("servicekit_tests", {tp: end for tp, (_, end) in partition_bounds(parts).items()})
    produce_raw("widget_events", [(e.key, e.to_json()) for e in (make_event("widget.created") for _ in range(40))])
    doc, _ = status("--max-lag", "39")
    assert doc["consumer"]["lag"] == {"widget_events": 40, "user_events": 0}
    assert "group servicekit_tests is 40 events behind" in doc["problems"]
