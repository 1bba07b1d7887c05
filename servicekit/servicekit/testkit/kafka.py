"""Events and topics for tests: envelopes, fake messages, and reading or writing a real broker
(see the ``kafka`` fixture)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class FakeMessage:
    """Stands in for ``confluent_kafka.Message`` when driving a consumer without a broker."""

    def __init__(self, value: bytes | None, *, topic: str = "post_events", partition: int = 0, offset: int = 0,
                 key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None) -> None:  # fmt: skip
        self._value, self._topic, self._partition, self._offset = value, topic, partition, offset
        self._key, self._headers = key, headers

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None


def topic_of(event_type: str) -> str:
    """The topic an event type is on, by this project's naming (``post.created``: ``post_events``)."""
    return f"{event_type.split('.', 1)[0]}_events"


def make_event(event_type: str, *, user_id: uuid.UUID | str | None = None, subject: Any = None, **data: Any) -> Any:
    """An envelope as a producing service would emit it."""
    from servicekit.events import EventEnvelope

    user_id = str(user_id or uuid.uuid4())
    subject = str(subject or (user_id if topic_of(event_type) == "user_events" else uuid.uuid4()))
    return EventEnvelope(source="tests", type=event_type, subject=subject, userid=user_id, data={"id": subject, **data})


@dataclass(frozen=True)
class ReadMessage:
    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict[str, bytes]

    @property
    def envelope(self) -> dict[str, Any]:
        return json.loads(self.value or b"null")


def read_topic(
    topic: str,
    *,
    until: Callable[[list[ReadMessage]], bool] | None = None,
    timeout: float = 20.0,
    bootstrap_servers: str | None = None,
) -> list[ReadMessage]:
    """The messages of ``topic`` from the beginning: until ``until(messages)`` holds, or
    (``until=None``) up to the end of each partition as it is now.

    Partitions are assigned directly (no consumer group), so reading starts at once.
    The broker is this service's (settings.KAFKA), or ``bootstrap_servers`` (no Django
    needed: the end-to-end suite reads the stack's topics so).
    Raises AssertionError naming what was read if that is not reached in ``timeout``.
    """
    from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

    if bootstrap_servers is None:
        from servicekit.kafka import _common

        client = _common()
    else:
        client = {"bootstrap.servers": bootstrap_servers, "allow.auto.create.topics": False}
    consumer = Consumer({**client, "group.id": f"test-reader-{uuid.uuid4()}", "enable.auto.commit": False,
                         "fetch.wait.max.ms": 20})  # fmt: skip
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])
        if until is None:
            ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}

            quiet = {"seen": -1, "since": time.monotonic()}

            def until(messages: list[ReadMessage]) -> bool:
                # Tansu can report a high watermark below the real end (a batch's base offset
                # + 1): once past it, keep reading until the partitions stay quiet briefly.
                last = dict.fromkeys(partitions, -1)
                for m in messages:
                    last[m.partition] = max(last[m.partition], m.offset)
                if len(messages) != quiet["seen"]:
                    quiet.update(seen=len(messages), since=time.monotonic())
                caught_up = all(last[p] + 1 >= end for p, end in ends.items())
                return caught_up and time.monotonic() - quiet["since"] > 0.3

        messages: list[ReadMessage] = []
        deadline = time.monotonic() + timeout
        while not until(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"{topic}: condition not met after {timeout}s; read {len(messages)} message(s)")
            for msg in consumer.consume(500, timeout=0.2):
                if msg.error():
                    continue
                key = msg.key()
                messages.append(
                    ReadMessage(
                        msg.topic(),
                        msg.partition(),
                        msg.offset(),
                        key.decode() if key else None,
                        msg.value(),
                        dict(msg.headers() or []),
                    )
                )
        return messages
    finally:
        consumer.close()


def events_on(topic: str, event_ids: set[str], *, timeout: float = 20.0) -> list[ReadMessage]:
    """The messages of ``topic`` carrying ``event_ids``, once all of them have arrived."""

    def ours(messages: list[ReadMessage]) -> list[ReadMessage]:
        return [m for m in messages if _event_id(m) in event_ids]

    return ours(read_topic(topic, until=lambda ms: {_event_id(m) for m in ours(ms)} >= event_ids, timeout=timeout))


def _event_id(message: ReadMessage) -> str | None:
    try:
        return message.envelope.get("id")
    except (ValueError, AttributeError):
        return None


def produce_raw(topic: str, messages: list[tuple[str | None, bytes | None]]) -> None:
    """Writes ``(key, value)`` pairs to ``topic`` as they are (poison included) and waits for acks."""
    from confluent_kafka import Producer

    from servicekit.kafka import OutgoingMessage, cloudevent_headers, producer_config, publish

    producer = Producer(producer_config("tests"))
    results = publish(producer, [OutgoingMessage(topic, k, v, cloudevent_headers()) for k, v in messages], timeout=15)
    assert all(err is None for err in results), results


def relay_pending(timeout: float = 30.0) -> int:
    """Runs the outbox relay in this process until nothing is pending. Returns rows published."""
    from servicekit.outbox.models import OutboxEvent
    from servicekit.outbox.relay import OutboxRelay

    relay, published, deadline = OutboxRelay(), 0, time.monotonic() + timeout
    while OutboxEvent.objects.filter(parked_at__isnull=True).exists():
        assert time.monotonic() < deadline, "outbox rows still pending"
        published += relay.relay_batch()[0]
    return published
