"""consumer_service's consume_events throughput (run by bench/run.py in consumer_service/)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid

from common import setup_django

setup_django()

from confluent_kafka import Producer  # noqa: E402
from django.db.models import Max, Min  # noqa: E402

from activity.models import Event  # noqa: E402
from servicekit.events import EventEnvelope, EventType  # noqa: E402
from servicekit.kafka import OutgoingMessage, cloudevent_headers, producer_config, publish  # noqa: E402

EVENTS = 5000


def main() -> None:
    users = [str(uuid.uuid4()) for _ in range(50)]
    kinds = [EventType.POST_CREATED, EventType.NOTE_CREATED, EventType.POST_UPDATED, EventType.NOTE_DELETED]
    messages = []
    for i in range(EVENTS):
        event = EventEnvelope(source="bench", type=kinds[i % 4], subject=str(uuid.uuid4()), userid=users[i % 50],
                              data={"title": f"bench {i}"})  # fmt: skip
        messages.append(OutgoingMessage(event.topic.value, event.key, event.to_json(), cloudevent_headers()))
    errors = [e for e in publish(Producer(producer_config("bench")), messages, timeout=60) if e]
    assert not errors, errors[:3]

    worker = subprocess.Popen([sys.executable, "manage.py", "consume_events"])
    started = time.monotonic()
    while Event.objects.count() < EVENTS and time.monotonic() - started < 300:
        time.sleep(0.2)
    worker.send_signal(signal.SIGTERM)
    worker.wait(30)
    span = Event.objects.aggregate(first=Min("received_at"), last=Max("received_at"))
    seconds = (span["last"] - span["first"]).total_seconds()
    count = Event.objects.count()
    print(f"consumer: {count} events in {seconds:.2f} s = {count / seconds:.0f} events/s "
          f"(one consume_events process, PostgreSQL, up to CONSUMER_BATCH_SIZE events per transaction)")  # fmt: skip


if __name__ == "__main__":
    main()
