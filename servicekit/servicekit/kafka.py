"""Kafka clients configured one way for every service (confluent-kafka / librdkafka)."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic
from django.conf import settings

from servicekit.events import CONTENT_TYPE, ConsumerGroup, Topic

log = logging.getLogger("servicekit.kafka")


def _common() -> dict[str, Any]:
    conf = settings.KAFKA
    return {
        "bootstrap.servers": conf["BOOTSTRAP_SERVERS"],
        # Reconnect to a restarted broker within a second (librdkafka backs off up to 10 s).
        "reconnect.backoff.max.ms": 1000,
        **conf["SECURITY"],
    }


def producer_config(role: str) -> dict[str, Any]:
    """Idempotent, ``acks=all``: a retried send is never written twice or out of order.

    With ``KAFKA_ENABLE_IDEMPOTENCE=False`` (the embedded broker only: a memory-only
    broker forgets producer ids when it restarts, and an idempotent producer then loses
    or wedges sends) one request in flight keeps each key in order instead; a retry
    may then duplicate a message, which consumers skip by event id.
    """
    conf = settings.KAFKA
    delivery = (
        {"enable.idempotence": True}
        if conf["IDEMPOTENCE"]
        else {"enable.idempotence": False, "max.in.flight.requests.per.connection": 1}
    )
    return {
        **_common(),
        "client.id": f"{conf['CLIENT_ID']}-{role}",
        **delivery,
        "acks": "all",
        "linger.ms": 2,
        # A message not acknowledged within this time is reported failed (and retried
        # by the relay later), so a call never waits forever on a broker that is down.
        "message.timeout.ms": conf["DELIVERY_TIMEOUT_MS"],
    }


def consumer_config(group: str) -> dict[str, Any]:
    """Offsets are stored by hand after processing and committed by the loop."""
    conf = settings.KAFKA
    return {
        **_common(),
        "client.id": f"{conf['CLIENT_ID']}-consumer",
        "group.id": group,
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "session.timeout.ms": conf["SESSION_TIMEOUT_MS"],
        "heartbeat.interval.ms": max(500, conf["SESSION_TIMEOUT_MS"] // 5),
        "fetch.wait.max.ms": conf["FETCH_WAIT_MAX_MS"],
        # A database outage pauses the loop on one message; stay in the group meanwhile.
        "max.poll.interval.ms": 600_000,
    }


def all_topics() -> list[str]:
    """Every topic of the contract: the event topics and each group's dead-letter topic."""
    return [*(t.value for t in Topic), *(g.dead_letter_topic for g in ConsumerGroup)]


def ensure_topics(*, timeout: float = 60.0) -> list[str]:
    """Creates missing topics; existing ones are left alone. Returns the names created.

    Waits (retrying) up to ``timeout`` seconds for the broker, so it can run at startup
    next to a broker that is still coming up.
    """
    conf = settings.KAFKA
    admin = AdminClient(_common())
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=5).topics)
            break
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for Kafka at %s: %s", conf["BOOTSTRAP_SERVERS"], exc)
            time.sleep(1)
    wanted = [name for name in all_topics() if name not in existing]
    if not wanted:
        return []
    futures = admin.create_topics(
        [NewTopic(name, conf["TOPIC_PARTITIONS"], conf["REPLICATION_FACTOR"]) for name in wanted],
        operation_timeout=30,
    )
    created = []
    for name, future in futures.items():
        try:
            future.result()
            created.append(name)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process won the race
                raise
    return created


def broker_reachable(timeout: float = 2.0) -> None:
    """Raises if the broker does not answer a metadata request within ``timeout``."""
    AdminClient(_common()).list_topics(timeout=timeout)


#: Errors no retry can fix: the message itself is refused (size, format).
UNPUBLISHABLE = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError._INVALID_ARG,
    }
)


@dataclass
class OutgoingMessage:
    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]


def cloudevent_headers() -> list[tuple[str, bytes]]:
    return [("content-type", CONTENT_TYPE.encode())]


def publish(producer: Producer, messages: Iterable[OutgoingMessage], *, timeout: float) -> list[KafkaError | None]:
    """Sends ``messages`` in order and waits for every acknowledgement.

    Returns one entry per message: ``None`` when the broker acknowledged it, else the
    error. A message still unacknowledged after ``timeout`` is reported as failed. One
    the client refuses outright (see :data:`UNPUBLISHABLE`) holds back the rest of its key.
    """
    messages = list(messages)
    results: list[KafkaError | None] = [KafkaError(KafkaError._TIMED_OUT)] * len(messages)
    refused_keys: set[str | bytes | None] = set()

    def acked(index: int):
        def callback(err: KafkaError | None, _msg: Message) -> None:
            results[index] = err

        return callback

    for index, message in enumerate(messages):
        if message.key in refused_keys:  # keep the key's order: nothing after a refused one
            results[index] = KafkaError(KafkaError._PREV_IN_PROGRESS, "held back: an earlier event of its key failed")
            continue
        while True:
            try:
                producer.produce(
                    message.topic,
                    key=message.key,
                    value=message.value,
                    headers=message.headers,
                    on_delivery=acked(index),
                )
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
            except KafkaException as exc:  # refused before sending (too large, invalid): no retry helps
                results[index] = exc.args[0]
                refused_keys.add(message.key)
                break
    remaining = producer.flush(timeout)
    if remaining:
        log.warning("%d message(s) not acknowledged within %.1fs", remaining, timeout)
    return results
