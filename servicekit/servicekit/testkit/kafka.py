"""Events and topics for tests: envelopes, fake messages, and reading or writing a real broker
(see the ``kafka`` fixture)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

from servicekit.topics import ReadMessage


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


def read_topic(
    topic: str,
    *,
    until: Callable[[list[ReadMessage]], bool] | None = None,
    timeout: float = 20.0,
    bootstrap_servers: str | None = None,
) -> list[ReadMessage]:
    """The messages of ``topic`` from the beginning: until ``until(messages)`` holds, or
    (``until=None``) up to the real end of each partition as it is now
    (:mod:`servicekit.topics`: no consumer group, the embedded broker's stale watermark allowed for).
    The broker is this service's (settings.KAFKA), or ``bootstrap_servers`` (no Django
    needed: the end-to-end suite reads the stack's topics so).

    Raises AssertionError naming what was read if ``until`` does not hold within ``timeout``.
    """
    from servicekit.topics import read, reader

    consumer = reader(bootstrap_servers)
    try:
        if until is None:
            return list(read(topic, consumer=consumer))
        messages: list[ReadMessage] = []
        deadline = time.monotonic() + timeout
        stop = lambda: until(messages) or time.monotonic() > deadline  # noqa: E731
        for message in read(topic, follow=True, should_stop=stop, consumer=consumer):
            messages.append(message)
            if until(messages):
                break
        if not until(messages):
            raise AssertionError(f"{topic}: condition not met after {timeout}s; read {len(messages)} message(s)")
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
