"""Commit-to-topic latency of the outbox relay (run by bench/run.py in post_service/)."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid

from common import percentiles, setup_django

setup_django()

from confluent_kafka import OFFSET_END, Consumer, TopicPartition  # noqa: E402
from django.conf import settings  # noqa: E402

from posts.services import post_create  # noqa: E402

EVENTS = 500
RATE_PER_SECOND = 50


def main() -> None:
    reader = Consumer({"bootstrap.servers": settings.KAFKA["BOOTSTRAP_SERVERS"], "group.id": f"bench-{uuid.uuid4()}",
                       "enable.auto.commit": False, "fetch.wait.max.ms": 5})  # fmt: skip
    partitions = reader.list_topics("post_events", timeout=10).topics["post_events"].partitions
    reader.assign([TopicPartition("post_events", p, OFFSET_END) for p in partitions])
    committed: dict[str, float] = {}
    on_topic: dict[str, float] = {}
    received: dict[str, float] = {}

    def read() -> None:
        while len(received) < EVENTS:
            for msg in reader.consume(100, timeout=0.1):
                if not msg.error():
                    key = msg.key().decode()
                    received[key] = time.time()
                    on_topic[key] = msg.timestamp()[1] / 1000

    relay = subprocess.Popen([sys.executable, "manage.py", "relay_outbox"])
    time.sleep(3)  # the relay connects and starts listening
    reader_thread = threading.Thread(target=read, daemon=True)
    reader_thread.start()
    user_id = uuid.uuid4()
    for i in range(EVENTS):
        post = post_create(user_id=user_id, title=f"bench {i}")
        committed[str(post.id)] = time.time()
        time.sleep(1 / RATE_PER_SECOND)
    reader_thread.join(timeout=60)
    relay.send_signal(signal.SIGTERM)
    relay.wait(20)
    to_topic = [(on_topic[k] - committed[k]) * 1000 for k in committed if k in on_topic]
    to_consumer = [(received[k] - committed[k]) * 1000 for k in committed if k in received]
    print(f"commit -> on topic (broker timestamp)  {percentiles(to_topic)}")
    print(f"commit -> received by a consumer       {percentiles(to_consumer)}")
    print(f"lost: {EVENTS - len(received)}")


if __name__ == "__main__":
    main()
