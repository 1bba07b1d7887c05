"""Kafka clients configured one way for every service (confluent-kafka / librdkafka)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    NewTopic,
    ResourceType,
)
from django.conf import settings
from django.utils.module_loading import import_string

from servicekit.events import CONTENT_TYPE, DEAD_LETTER_RETENTION, Topic, retention_config

if TYPE_CHECKING:
    from servicekit.consumer import EventHandlers

log = logging.getLogger("servicekit.kafka")


def _common() -> dict[str, Any]:
    conf = settings.KAFKA
    return {
        "bootstrap.servers": conf["BOOTSTRAP_SERVERS"],
        # Reconnect to a restarted broker within a second (librdkafka backs off up to 10 s).
        "reconnect.backoff.max.ms": 1000,
        # Topics are created by the services that own them (ensure_topics, with the partitions
        # of the contract), never by a client that names one (the broker's defaults).
        "allow.auto.create.topics": False,
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
        # The relay gathers a batch itself; the client adds no wait of its own.
        "linger.ms": 0,
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
        # A database outage pauses the loop on one batch; stay in the group meanwhile.
        "max.poll.interval.ms": 600_000,
    }


# -- topics -------------------------------------------------------------------------------


def published_topics() -> list[Topic]:
    """The topics this service declares (``settings.EVENTS["PUBLISHES"]``: import paths)."""
    return [import_string(path) for path in settings.EVENTS.get("PUBLISHES", ())]


def event_handlers() -> EventHandlers | None:
    """What this service consumes (``settings.EVENTS["HANDLERS"]``), if it consumes."""
    path = settings.EVENTS.get("HANDLERS")
    return import_string(path) if path else None


def declared_topics() -> dict[str, dict[str, str]]:
    """Every topic this service owns, with the Kafka configuration it declares: those it
    publishes (their retention), and its dead-letter topic."""
    topics = {topic.name: topic.config for topic in published_topics()}
    handlers = event_handlers()
    if handlers is not None:
        topics[handlers.dead_letter_topic] = retention_config(DEAD_LETTER_RETENTION)
    return topics


def own_topics() -> list[str]:
    """Every topic this service owns: those it publishes, and its dead-letter topic."""
    return list(declared_topics())


#: Settings set on existing topics: ``{topic: {setting: (was, now)}}``.
Reconfigured = dict[str, dict[str, tuple[str | None, str]]]


@dataclass
class TopicChanges:
    """What :func:`ensure_topics` changed: topics created, and the settings of existing
    ones set to what they declare."""

    created: list[str] = field(default_factory=list)
    reconfigured: Reconfigured = field(default_factory=dict)


def ensure_topics(
    *, topics: Iterable[str] | None = None, timeout: float = 60.0, on_wait: Callable[[], None] = lambda: None
) -> TopicChanges:
    """Creates this service's missing topics (or ``topics``) with the configuration they
    declare, and sets that configuration on those that exist with another one.

    Only the declared settings are set (``IncrementalAlterConfigs``); any other setting of
    an existing topic is left as it is, and so is a topic this service does not declare
    (named in ``topics``: created with the broker's defaults, as its owner is not here).
    Waits (retrying) up to ``timeout`` seconds for the broker, so it can run at startup
    next to a broker that is still coming up. Raises KafkaException when it does not answer.
    """
    conf = settings.KAFKA
    admin = AdminClient(_common())
    deadline = time.monotonic() + timeout
    while True:
        try:
            existing = set(admin.list_topics(timeout=min(5.0, max(0.5, timeout))).topics)
            break
        except KafkaException as exc:
            if time.monotonic() > deadline:
                raise
            log.warning("waiting for Kafka at %s: %s", conf["BOOTSTRAP_SERVERS"], exc)
            on_wait()
            time.sleep(1)
    declared = declared_topics()
    names = dict.fromkeys(declared if topics is None else topics)  # once each, in order
    changes = TopicChanges()
    wanted = [name for name in names if name not in existing]
    if wanted:
        futures = admin.create_topics(
            [NewTopic(name, conf["TOPIC_PARTITIONS"], conf["REPLICATION_FACTOR"], config=declared.get(name, {}))
             for name in wanted],
            operation_timeout=30,
        )  # fmt: skip
        for name, future in futures.items():
            try:
                future.result()
                changes.created.append(name)
            except KafkaException as exc:
                if exc.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:  # another process won the race
                    raise
    configured = [name for name in names if name in existing and declared.get(name)]
    if configured:
        changes.reconfigured = _align_configs(admin, {name: declared[name] for name in configured})
    return changes


def _align_configs(admin: AdminClient, wanted: dict[str, dict[str, str]]) -> Reconfigured:
    """Sets the settings of ``wanted`` whose values differ on the broker; returns them."""
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, name) for name in wanted],
                                       request_timeout=30)  # fmt: skip
    differences = {}
    for resource, future in described.items():
        current = {key: entry.value for key, entry in future.result().items()}
        differ = {key: (current.get(key), value) for key, value in wanted[resource.name].items()
                  if current.get(key) != value}  # fmt: skip
        if differ:
            differences[resource.name] = differ
    if not differences:
        return {}
    altered = admin.incremental_alter_configs([
        ConfigResource(ResourceType.TOPIC, name, incremental_configs=[
            ConfigEntry(key, now, incremental_operation=AlterConfigOpType.SET) for key, (_, now) in differ.items()])
        for name, differ in differences.items()
    ], request_timeout=30)  # fmt: skip
    for resource, future in altered.items():
        future.result()
        for key, (was, now) in differences[resource.name].items():
            log.warning("topic %s: %s set to %s (was %s), as declared", resource.name, key, now, was)
    return differences


# -- publishing ---------------------------------------------------------------------------

#: Errors no retry can fix: the message itself is refused (size, format).
UNPUBLISHABLE = frozenset(
    {
        KafkaError.MSG_SIZE_TOO_LARGE,
        KafkaError.INVALID_RECORD,
        KafkaError.RECORD_LIST_TOO_LARGE,
        KafkaError._INVALID_ARG,
    }
)
#: The result of a message not sent because an earlier message of its key failed.
HELD_BACK = KafkaError._PREV_IN_PROGRESS


@dataclass
class OutgoingMessage:
    topic: str
    key: str
    value: bytes
    headers: list[tuple[str, bytes]]
    #: None: the partition of the key (the producer's partitioner).
    partition: int | None = None


def cloudevent_headers() -> list[tuple[str, bytes]]:
    return [("content-type", CONTENT_TYPE.encode())]


def publish(
    producer: Producer,
    messages: Sequence[OutgoingMessage],
    *,
    timeout: float,
    on_wait: Callable[[], None] = lambda: None,
) -> list[KafkaError | None]:
    """Sends ``messages`` and waits for the acknowledgements, one message per key in flight.

    Returns one entry per message: ``None`` when the broker acknowledged it, else the
    error. The messages of a key are sent in rounds: the first of every key, then (once
    those are acknowledged) the second, and so on, so a message is never on its way while
    an earlier one of its key may still fail; once one fails, the rest of its key are not
    sent (:data:`HELD_BACK`). A message still unacknowledged after ``timeout`` (for the
    whole call) is reported as failed. ``on_wait`` is called about every second meanwhile.
    """
    held = KafkaError(HELD_BACK, "held back: an earlier event of its key was not acknowledged")
    results: list[KafkaError | None] = [held] * len(messages)
    queues: dict[str | None, list[int]] = {}
    for index, message in enumerate(messages):
        queues.setdefault(message.key, []).append(index)
    deadline = time.monotonic() + timeout
    while queues and time.monotonic() < deadline:
        heads = {key: indexes.pop(0) for key, indexes in queues.items()}
        _send_round(producer, messages, heads.values(), results, deadline, on_wait)
        queues = {key: indexes for key, indexes in queues.items() if indexes and results[heads[key]] is None}
    return results


def _send_round(
    producer: Producer,
    messages: Sequence[OutgoingMessage],
    indexes: Iterable[int],
    results: list[KafkaError | None],
    deadline: float,
    on_wait: Callable[[], None],
) -> None:
    timed_out = KafkaError(KafkaError._TIMED_OUT)

    def acked(index: int):
        def callback(err: KafkaError | None, _msg: Message) -> None:
            results[index] = err

        return callback

    sent = []
    for index in indexes:
        message = messages[index]
        while True:
            results[index] = timed_out  # until its delivery report says otherwise
            try:
                where = {} if message.partition is None else {"partition": message.partition}
                producer.produce(message.topic, key=message.key, value=message.value, headers=message.headers,
                                 on_delivery=acked(index), **where)  # fmt: skip
                sent.append(index)
                break
            except BufferError:  # local queue full: let deliveries drain, then retry
                producer.poll(0.1)
            except KafkaException as exc:  # refused before sending (too large, invalid): no retry helps
                results[index] = exc.args[0]
                break
    remaining = len(sent)
    while remaining and time.monotonic() < deadline:
        remaining = producer.flush(min(1.0, max(0.0, deadline - time.monotonic())))
        on_wait()
    if remaining:
        log.warning("%d message(s) not acknowledged in time", remaining)
