"""Reading topics as an operator does, and how far consumer groups are behind.

The operator commands (``tail_events``, ``dead_letters``, ``status``), the test kit and the
metrics read topics through here: partitions are assigned directly, so a reader joins no
consumer group and commits nothing, and starts at once.

Where a partition ends. Kafka answers ListOffsets "latest" (``get_watermark_offsets``)
with the high watermark, the offset the next message will get. Tansu 0.6.0, the embedded
broker, answers the base offset of the partition's last batch + 1, too low whenever that
batch holds several messages, and it stays so (measured: 17,279 messages on three
partitions, watermarks summing to 12,689). :func:`partition_ends` therefore starts at the
watermark and reads on until librdkafka reports the end of each partition (its
partition-EOF event, raised when a fetch at the current position returns nothing): exact
on both brokers, at the cost of one empty fetch per partition on Kafka and of reading
the messages the watermark missed on Tansu. Every "end", "from now" and lag figure here
is computed that way.

From a time. ``offsets_for_times`` is Kafka's answer, and Tansu's is wrong (measured: 0
for a time in the middle of a partition, 0 again for a time in the future). The answer is
checked: the message before it must be older than the time. Where it is not, or the
broker says nothing, the partition is scanned from its start for the first message at or
after the time (exact, and cheap on a memory-only development broker).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from django.conf import settings

from servicekit.kafka import _common

#: Seconds to wait for the broker's metadata before calling it unreachable.
METADATA_TIMEOUT = 10.0
#: Seconds to read before giving up on reaching the end of the partitions.
READ_TIMEOUT = 60.0

Partition = tuple[str, int]
#: librdkafka logs each failed connection attempt to stderr; an operator's command says
#: what went wrong itself, in one line (TopicError).
QUIET = {"log_level": 2}


class TopicError(Exception):
    """What an operator must be told in one line: an unknown topic or group, an offset out
    of range, a broker that does not answer."""


@dataclass(frozen=True)
class ReadMessage:
    """One message as read: where it is, and its key, value, headers and broker timestamp."""

    topic: str
    partition: int
    offset: int
    key: str | None
    value: bytes | None
    headers: dict[str, bytes]
    #: Milliseconds since the epoch (the producer's CreateTime, or the broker's LogAppendTime).
    timestamp_ms: int | None = None
    #: The headers in order, repeats included (what a replay copies).
    header_list: list[tuple[str, bytes]] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def from_message(cls, message: Message) -> ReadMessage:
        key = message.key()
        kind, stamp = message.timestamp()
        headers = list(message.headers() or [])
        return cls(
            topic=message.topic(),
            partition=message.partition(),
            offset=message.offset(),
            key=key.decode(errors="replace") if key is not None else None,
            value=message.value(),
            headers={name: value or b"" for name, value in headers},
            timestamp_ms=stamp if kind and stamp >= 0 else None,
            header_list=[(name, value or b"") for name, value in headers],
        )

    @property
    def envelope(self) -> Any:
        """The value as JSON (a CloudEvent, on an event topic). Raises ValueError if it is not."""
        return json.loads(self.value or b"null")

    @property
    def time(self) -> datetime | None:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC) if self.timestamp_ms is not None else None

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


# -- clients -------------------------------------------------------------------------------


def reader(bootstrap_servers: str | None = None) -> Consumer:
    """A consumer for reading by assignment only: it never joins its (random, unused) group,
    never commits, and reports the end of each partition. The broker is this service's
    (``settings.KAFKA``), or ``bootstrap_servers`` (then no Django settings are needed)."""
    if bootstrap_servers is None:
        client = {**_common(), "client.id": f"{settings.KAFKA['CLIENT_ID']}-ops",
                  "fetch.wait.max.ms": settings.KAFKA["FETCH_WAIT_MAX_MS"]}  # fmt: skip
    else:
        client = {"bootstrap.servers": bootstrap_servers, "allow.auto.create.topics": False,
                  "fetch.wait.max.ms": 20}  # fmt: skip
    return Consumer(
        {
            **client,
            # Required by librdkafka, never used: nothing here subscribes or commits.
            "group.id": f"servicekit-reader-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            **QUIET,
        }
    )


def admin() -> AdminClient:
    return AdminClient({**_common(), **QUIET})


def _broker_down(exc: KafkaException) -> TopicError:
    return TopicError(f"the broker at {settings.KAFKA['BOOTSTRAP_SERVERS']} does not answer ({exc.args[0].str()})")


def topic_partitions(client: Consumer | AdminClient, topic: str) -> list[int]:
    """The partitions of ``topic``. Raises TopicError for an unknown topic or a broker
    that does not answer (asking for every topic: naming one could auto-create it)."""
    try:
        metadata = client.list_topics(timeout=METADATA_TIMEOUT)
    except KafkaException as exc:
        raise _broker_down(exc) from None
    found = metadata.topics.get(topic)
    if found is None or found.error is not None:
        known = ", ".join(sorted(name for name in metadata.topics if not name.startswith("__"))) or "none"
        raise TopicError(f"no topic {topic!r} on {settings.KAFKA['BOOTSTRAP_SERVERS']} (topics: {known})")
    return sorted(found.partitions)


def _watermarks(consumer: Consumer, partition: Partition) -> tuple[int, int]:
    try:
        return consumer.get_watermark_offsets(TopicPartition(*partition), timeout=METADATA_TIMEOUT, cached=False)
    except KafkaException as exc:
        raise _broker_down(exc) from None


# -- where partitions start and end ------------------------------------------------------------


def partition_bounds(
    partitions: Iterable[Partition], *, consumer: Consumer | None = None
) -> dict[Partition, tuple[int, int]]:
    """``(first offset, end offset)`` of each partition: the end is the offset the next
    message will get, found by reading (see the module docstring), never the watermark alone."""
    own = consumer is None
    consumer = consumer or reader()
    try:
        low_high = {partition: _watermarks(consumer, partition) for partition in partitions}
        ends = _read_to_ends(consumer, {partition: high for partition, (_, high) in low_high.items()})
        return {partition: (low, ends[partition]) for partition, (low, _) in low_high.items()}
    finally:
        if own:
            consumer.close()


def partition_ends(partitions: Iterable[Partition], *, consumer: Consumer | None = None) -> dict[Partition, int]:
    """The end offset of each partition (see :func:`partition_bounds`)."""
    return {partition: end for partition, (_, end) in partition_bounds(partitions, consumer=consumer).items()}


def _read_to_ends(consumer: Consumer, starts: dict[Partition, int]) -> dict[Partition, int]:
    if not starts:
        return {}
    consumer.assign([TopicPartition(topic, partition, offset) for (topic, partition), offset in starts.items()])
    ends: dict[Partition, int] = {}
    last = dict(starts)
    deadline = time.monotonic() + READ_TIMEOUT
    try:
        while len(ends) < len(starts):
            if time.monotonic() > deadline:
                missing = ", ".join(f"{t}[{p}]" for t, p in starts if (t, p) not in ends)
                raise TopicError(f"could not read to the end of {missing} within {READ_TIMEOUT:.0f}s")
            for message in consumer.consume(500, timeout=0.2):
                where = (message.topic(), message.partition())
                error = message.error()
                if error is None:
                    last[where] = message.offset() + 1
                elif error.code() == KafkaError._PARTITION_EOF:
                    ends.setdefault(where, max(message.offset(), last[where]))
                else:
                    _raise_read_error(error, message.topic())
    finally:
        consumer.unassign()
    return ends


def _raise_read_error(error: KafkaError, topic: str | None) -> None:
    if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
        raise TopicError(f"no topic {topic!r} on {settings.KAFKA['BOOTSTRAP_SERVERS']}")
    if error.fatal() or error.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._AUTHENTICATION):
        raise TopicError(f"reading {topic}: {error.str()}")
    # Anything else is transient (a reconnect): librdkafka retries by itself.


# -- reading -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Start:
    """Where a read starts in each partition: ``beginning``, ``end`` (what arrives from now
    on), an ``offset`` (in the one partition given, or in each), or a ``time``."""

    where: str = "beginning"
    offset: int | None = None
    time: datetime | None = None

    @classmethod
    def beginning(cls) -> Start:
        return cls("beginning")

    @classmethod
    def end(cls) -> Start:
        return cls("end")

    @classmethod
    def at_offset(cls, offset: int) -> Start:
        return cls("offset", offset=offset)

    @classmethod
    def at_time(cls, when: datetime) -> Start:
        return cls("time", time=when)


def start_offsets(
    consumer: Consumer, topic: str, partitions: list[int], start: Start
) -> tuple[dict[int, int], dict[int, int]]:
    """The offset to read each partition from, and each one's end. Raises TopicError for an
    offset out of range."""
    bounds = partition_bounds([(topic, p) for p in partitions], consumer=consumer)
    ends = {p: bounds[(topic, p)][1] for p in partitions}
    return _start_offsets(consumer, topic, partitions, start, bounds), ends


def _start_offsets(
    consumer: Consumer, topic: str, partitions: list[int], start: Start, bounds: dict[Partition, tuple[int, int]]
) -> dict[int, int]:
    if start.where == "beginning":
        return {p: bounds[(topic, p)][0] for p in partitions}
    if start.where == "end":
        return {p: bounds[(topic, p)][1] for p in partitions}
    if start.where == "offset":
        offsets = {}
        for p in partitions:
            low, end = bounds[(topic, p)]
            if not low <= start.offset <= end:
                holds = f"it holds {low}..{end - 1}" if end > low else "it is empty"
                raise TopicError(f"offset {start.offset} is out of range for {topic}[{p}]: {holds}")
            offsets[p] = start.offset
        return offsets
    return _offsets_for_time(consumer, topic, partitions, start.time, bounds)


def _offsets_for_time(
    consumer: Consumer, topic: str, partitions: list[int], when: datetime, bounds: dict[Partition, tuple[int, int]]
) -> dict[int, int]:
    """The first offset at or after ``when`` in each partition (the end if none is)."""
    millis = int(when.timestamp() * 1000)
    try:
        answers = consumer.offsets_for_times([TopicPartition(topic, p, millis) for p in partitions],
                                             timeout=METADATA_TIMEOUT)  # fmt: skip
    except KafkaException:
        answers = []
    answered = {tp.partition: tp.offset for tp in answers if tp.error is None and tp.offset >= 0}
    offsets = {}
    for p in partitions:
        low, end = bounds[(topic, p)]
        answer = answered.get(p)
        # Kafka's answer holds if the message just before it is older than the time.
        scan_from = low
        if answer is not None and low < answer <= end:
            before = _read_one(consumer, topic, p, answer - 1)
            if before is not None and before.timestamp_ms is not None and before.timestamp_ms < millis:
                scan_from = answer - 1
        offsets[p] = _first_at_or_after(consumer, topic, p, scan_from, end, millis)
    return offsets


def _read_one(consumer: Consumer, topic: str, partition: int, offset: int) -> ReadMessage | None:
    for message in _read_range(consumer, topic, partition, offset, offset + 1):
        return message
    return None


def _first_at_or_after(consumer: Consumer, topic: str, partition: int, start: int, end: int, millis: int) -> int:
    for message in _read_range(consumer, topic, partition, start, end):
        if message.timestamp_ms is not None and message.timestamp_ms >= millis:
            return message.offset
    return end


def _read_range(consumer: Consumer, topic: str, partition: int, start: int, end: int) -> Iterator[ReadMessage]:
    """The messages of one partition from ``start`` up to ``end`` (exclusive)."""
    if start >= end:
        return
    consumer.assign([TopicPartition(topic, partition, start)])
    deadline = time.monotonic() + READ_TIMEOUT
    try:
        while time.monotonic() < deadline:
            for message in consumer.consume(500, timeout=0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        return
                    _raise_read_error(error, topic)
                    continue
                if message.offset() >= end:
                    return
                yield ReadMessage.from_message(message)
                if message.offset() + 1 >= end:
                    return
        raise TopicError(f"could not read {topic}[{partition}] {start}..{end - 1} within {READ_TIMEOUT:.0f}s")
    finally:
        consumer.unassign()


def read(
    topic: str,
    *,
    start: Start = Start(),  # noqa: B008 - immutable
    partitions: list[int] | None = None,
    follow: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    on_error: Callable[[str], None] = lambda message: None,
    consumer: Consumer | None = None,
) -> Iterator[ReadMessage]:
    """The messages of ``topic`` (of ``partitions``, default all) from ``start``.

    Without ``follow`` it stops at the end of every partition as it was when the read
    started (found by reading, see the module docstring); with ``follow`` it goes on until
    ``should_stop()``, reporting broker trouble meanwhile to ``on_error`` (once per kind of
    error) and carrying on when the broker is back. Messages of different partitions are
    interleaved as they arrive; within a partition they are in offset order.
    Raises TopicError (unknown topic or partition, offset out of range, broker down).
    """
    own = consumer is None
    consumer = consumer or reader()
    try:
        known = topic_partitions(consumer, topic)
        chosen = known if partitions is None else partitions
        unknown = sorted(set(chosen) - set(known))
        if unknown:
            raise TopicError(f"{topic} has no partition {unknown[0]} (it has {', '.join(map(str, known))})")
        offsets, stop_at = start_offsets(consumer, topic, chosen, start)
        pending = {p for p in chosen if follow or offsets[p] < stop_at[p]}
        consumer.assign([TopicPartition(topic, p, offsets[p]) for p in chosen])
        reported: set[int] = set()
        deadline = time.monotonic() + READ_TIMEOUT
        while pending and not should_stop():
            if not follow and time.monotonic() > deadline:
                raise TopicError(f"could not read to the end of {topic} within {READ_TIMEOUT:.0f}s")
            for message in consumer.consume(500, timeout=0.2):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        continue
                    if not follow:
                        _raise_read_error(error, topic)
                    elif error.code() not in reported:
                        reported.add(error.code())
                        on_error(error.str())
                    continue
                reported.clear()
                p = message.partition()
                if p not in pending:
                    continue
                if not follow and message.offset() >= stop_at[p]:
                    pending.discard(p)
                    continue
                yield ReadMessage.from_message(message)
                if not follow and message.offset() + 1 >= stop_at[p]:
                    pending.discard(p)
    finally:
        if own:
            consumer.close()


# -- consumer groups ----------------------------------------------------------------------------


@dataclass(frozen=True)
class PartitionLag:
    """How far a group is behind on one partition. ``committed`` None: it never committed
    one here, and would start at the first offset (``auto.offset.reset=earliest``)."""

    topic: str
    partition: int
    committed: int | None
    end: int
    first: int

    @property
    def lag(self) -> int:
        position = self.first if self.committed is None else max(self.committed, self.first)
        return max(0, self.end - position)


def committed_offsets(
    group: str, partitions: list[Partition], *, client: AdminClient | None = None
) -> dict[Partition, int]:
    """The group's committed offset of each partition that has one."""
    client = client or admin()
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p) for t, p in partitions])
    try:
        answer = client.list_consumer_group_offsets([request], request_timeout=METADATA_TIMEOUT)[group].result()
    except KafkaException as exc:
        raise _broker_down(exc) from None
    found = answer.topic_partitions
    return {(tp.topic, tp.partition): tp.offset for tp in found if tp.offset >= 0 and tp.error is None}


def group_lag(group: str, topics: Iterable[str], *, consumer: Consumer | None = None) -> list[PartitionLag]:
    """The group's lag on every partition of ``topics``, against the real ends."""
    own = consumer is None
    consumer = consumer or reader()
    try:
        partitions = [(topic, p) for topic in topics for p in topic_partitions(consumer, topic)]
        committed = committed_offsets(group, partitions)
        bounds = partition_bounds(partitions, consumer=consumer)
    finally:
        if own:
            consumer.close()
    return [PartitionLag(t, p, committed.get((t, p)), bounds[(t, p)][1], bounds[(t, p)][0]) for t, p in partitions]


def group_state(group: str, *, client: AdminClient | None = None) -> str:
    """The group's state as the broker reports it: ``empty`` (no member), ``stable``, ``preparing_rebalance`` ...

    Tansu 0.6.0 lists no members, but its states are right (``stable`` while a consumer
    is in the group, ``empty`` once it left).
    """
    client = client or admin()
    try:
        description = client.describe_consumer_groups([group], request_timeout=METADATA_TIMEOUT)[group].result()
    except KafkaException as exc:
        if exc.args[0].code() == KafkaError.GROUP_ID_NOT_FOUND:
            return "dead"
        raise _broker_down(exc) from None
    return description.state.name.lower()


def group_is_active(state: str) -> bool:
    return state not in ("empty", "dead", "unknown")


def commit_offsets(group: str, offsets: dict[Partition, int]) -> None:
    """Commits ``offsets`` for ``group`` without joining it (the group must have no member:
    the broker refuses a commit from outside a live group)."""
    client = admin()
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(t, p, o) for (t, p), o in offsets.items()])
    try:
        answer = client.alter_consumer_group_offsets([request], request_timeout=METADATA_TIMEOUT)[group].result()
    except KafkaException as exc:
        raise TopicError(f"could not commit offsets of group {group}: {exc.args[0].str()}") from None
    failed = [tp for tp in answer.topic_partitions if tp.error is not None]
    if failed:
        raise TopicError(f"could not commit offsets of group {group}: {failed[0].error.str()} "
                         f"({failed[0].topic}[{failed[0].partition}])")  # fmt: skip
