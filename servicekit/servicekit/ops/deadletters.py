"""Dead letters: what is on a consumer group's ``<group>.dlq``, and replaying it.

A dead letter is the message a consumer could not apply, copied to the dead-letter topic
with headers naming where it came from (``dlq.origin.topic``, ``dlq.origin.partition``,
``dlq.origin.offset``), the group and the error (servicekit.consumer). Replaying one
produces its key, value and original headers again to its origin topic and partition,
with ``dlq.replayed-from`` (the letter's position) and ``dlq.replayed-at``; the consumers
apply it like any event, and one that has applied the event already skips it (dedupe by
event id): replay is at least once, and safe to repeat.

What was replayed is recorded on the dead-letter topic itself, so that it lives and goes
with the letters (a memory-only broker that restarts forgets both):
- after a replay is acknowledged, a *marker* is appended to the letter's partition: an
  empty value with ``dlq.replay-of`` = the letter's offset (and ``dlq.skip-reason`` for a
  letter skipped instead of replayed);
- the group ``<group>.dlq.replay`` commits, on each partition, the offset below which every
  letter is settled (replayed or skipped), so reading starts there.
A letter is *pending* until it is settled. The record is written after the replay is
acknowledged: if the command dies in between, the letter is still pending and a later
replay sends it again, which the consumers skip.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from confluent_kafka import Producer

from servicekit.events import EventEnvelope, InvalidEvent
from servicekit.kafka import OutgoingMessage, producer_config, publish
from servicekit.ops.lines import iso
from servicekit.topics import (
    Partition,
    ReadMessage,
    Start,
    TopicError,
    commit_offsets,
    committed_offsets,
    partition_bounds,
    read,
    reader,
    topic_partitions,
)

REPLAY_OF = "dlq.replay-of"
SKIP_REASON = "dlq.skip-reason"
REPLAYED_FROM = "dlq.replayed-from"
REPLAYED_AT = "dlq.replayed-at"
#: Headers the consumer adds when it dead-letters; a replay drops them (the replayed
#: message gets them again, fresh, if it fails again).
DEAD_LETTER_HEADERS = ("dlq.origin.topic", "dlq.origin.partition", "dlq.origin.offset", "dlq.consumer.group",
                       "dlq.error", "dlq.value.dropped")  # fmt: skip


def replay_group(group: str) -> str:
    """The group whose committed offsets say how far ``<group>.dlq`` is settled."""
    return f"{group}.dlq.replay"


@dataclass
class DeadLetter:
    """One letter on a dead-letter topic and what became of it."""

    message: ReadMessage
    #: "pending", "replayed" or "skipped".
    state: str = "pending"
    #: From the marker that settled it (a letter below the replay mark has none of these).
    settled_at: str | None = None
    skip_reason: str | None = None

    @property
    def id(self) -> str:
        """``<partition>:<offset>`` on the dead-letter topic: how operators name a letter."""
        return f"{self.message.partition}:{self.message.offset}"

    def header(self, name: str) -> str | None:
        value = self.message.headers.get(name)
        return value.decode(errors="replace") if value is not None else None

    @property
    def origin_topic(self) -> str | None:
        return self.header("dlq.origin.topic")

    @property
    def origin_partition(self) -> int | None:
        value = self.header("dlq.origin.partition")
        return int(value) if value is not None and value.isdigit() else None

    @property
    def origin(self) -> str:
        topic, offset = self.origin_topic, self.header("dlq.origin.offset")
        return f"{topic}[{self.origin_partition}]@{offset}" if topic else "-"

    @property
    def error(self) -> str:
        return self.header("dlq.error") or ""

    @property
    def event(self) -> EventEnvelope | None:
        try:
            return EventEnvelope.from_json(self.message.value)
        except InvalidEvent:
            return None

    def unreplayable(self) -> str | None:
        """Why this letter cannot be replayed (a malformed dead letter), or None."""
        if self.origin_topic is None or self.origin_partition is None:
            return "no dlq.origin.topic/dlq.origin.partition header: not a dead letter of servicekit's consumer"
        if "dlq.value.dropped" in self.message.headers:
            return f"its value was not kept (too large for the dead-letter topic: {self.header('dlq.value.dropped')})"
        return None

    def to_dict(self) -> dict[str, object]:
        event = self.event
        return {
            "letter": self.id,
            "state": self.state,
            "dead_lettered_at": iso(self.message.time) if self.message.time else None,
            "origin": self.origin,
            "group": self.header("dlq.consumer.group"),
            "event_id": event.id if event else None,
            "type": event.type if event else None,
            "error": self.error,
            "settled_at": self.settled_at,
            "skip_reason": self.skip_reason,
        }


@dataclass
class DeadLetters:
    """The letters of one dead-letter topic, from where its replay group's mark starts (or
    from its beginning, ``everything``)."""

    topic: str
    group: str
    letters: list[DeadLetter]
    marks: dict[int, int]

    @property
    def pending(self) -> list[DeadLetter]:
        return [letter for letter in self.letters if letter.state == "pending"]

    def find(self, ids: Iterable[str]) -> list[DeadLetter]:
        by_id = {letter.id: letter for letter in self.letters}
        missing = [letter_id for letter_id in ids if letter_id not in by_id]
        if missing:
            raise TopicError(f"no dead letter {missing[0]} on {self.topic}")
        return [by_id[letter_id] for letter_id in ids]


def load(group: str, *, everything: bool = False) -> DeadLetters:
    """Reads ``<group>.dlq``: every letter (``everything``) or those from the replay mark on,
    each with its state. Raises TopicError."""
    topic = f"{group}.dlq"
    consumer = reader()
    try:
        partitions = topic_partitions(consumer, topic)
        marks = committed_offsets(replay_group(group), [(topic, p) for p in partitions])
        bounds = partition_bounds([(topic, p) for p in partitions], consumer=consumer)
        messages = []
        for p in partitions:
            low, end = bounds[(topic, p)]
            start = low if everything else max(low, marks.get((topic, p), low))
            if start < end:
                messages += read(topic, start=Start.at_offset(start), partitions=[p], consumer=consumer)
    finally:
        consumer.close()
    letters: dict[tuple[int, int], DeadLetter] = {}
    settled: dict[tuple[int, int], ReadMessage] = {}
    for message in sorted(messages, key=lambda m: (m.partition, m.offset)):
        of = message.headers.get(REPLAY_OF)
        if of is not None:
            settled[(message.partition, int(of))] = message
        else:
            letters[(message.partition, message.offset)] = DeadLetter(message)
    for (p, offset), letter in letters.items():
        if offset < marks.get((topic, p), 0):
            letter.state = "replayed"
        marker = settled.get((p, offset))
        if marker is not None:
            _mark_settled(letter, {name: value.decode(errors="replace") for name, value in marker.headers.items()})
    mark_of = {p: marks.get((topic, p), bounds[(topic, p)][0]) for p in partitions}
    return DeadLetters(topic=topic, group=group, letters=list(letters.values()), marks=mark_of)


@dataclass
class Outcome:
    letter: DeadLetter
    #: Where it went (``post_events[1]@57``), or None with ``error`` set.
    to: str | None = None
    error: str | None = None


def replay(letters: DeadLetters, chosen: list[DeadLetter], *, producer: Producer | None = None) -> list[Outcome]:
    """Produces each chosen letter to its origin again, then records it as replayed.

    Letters that cannot be replayed (see :meth:`DeadLetter.unreplayable`) are reported,
    not sent. Returns one outcome per chosen letter, in order.
    """
    producer = producer or Producer(producer_config("dlq-replay"))
    now = iso(datetime.now(UTC))
    outcomes = [Outcome(letter) for letter in chosen]
    sendable = []
    for outcome in outcomes:
        outcome.error = outcome.letter.unreplayable()
        if outcome.error is None:
            sendable.append(outcome)
    messages = []
    for outcome in sendable:
        message = outcome.letter.message
        headers = [(name, value) for name, value in message.header_list if name not in DEAD_LETTER_HEADERS]
        headers += [(REPLAYED_FROM, f"{letters.topic}[{message.partition}]@{message.offset}".encode()),
                    (REPLAYED_AT, now.encode())]  # fmt: skip
        messages.append(OutgoingMessage(outcome.letter.origin_topic, message.key, message.value or b"", headers,
                                        partition=outcome.letter.origin_partition))  # fmt: skip
    results = publish(producer, messages, timeout=30)
    done = []
    for outcome, result in zip(sendable, results, strict=True):
        if result is None:
            outcome.to = f"{outcome.letter.origin_topic}[{outcome.letter.origin_partition}]"
            done.append(outcome.letter)
        else:
            outcome.error = f"not replayed: {result.str()}"
    _settle(letters, done, {REPLAYED_AT: now}, producer)
    return outcomes


def skip(letters: DeadLetters, chosen: list[DeadLetter], *, reason: str, producer: Producer | None = None) -> None:
    """Records the chosen letters as settled without replaying them."""
    producer = producer or Producer(producer_config("dlq-replay"))
    _settle(letters, chosen, {SKIP_REASON: reason, REPLAYED_AT: iso(datetime.now(UTC))}, producer)


def _mark_settled(letter: DeadLetter, marker_headers: dict[str, str]) -> None:
    letter.skip_reason = marker_headers.get(SKIP_REASON)
    letter.state = "skipped" if letter.skip_reason is not None else "replayed"
    letter.settled_at = marker_headers.get(REPLAYED_AT)


def _settle(letters: DeadLetters, settled: list[DeadLetter], headers: dict[str, str], producer: Producer) -> None:
    """A marker per letter on its own partition, then the replay mark moved up over every
    letter settled from it on."""
    if not settled:
        return
    markers = [
        OutgoingMessage(letters.topic, letter.message.key, b"",
                        [(REPLAY_OF, str(letter.message.offset).encode()),
                         *((name, value.encode()) for name, value in headers.items())],
                        partition=letter.message.partition)
        for letter in settled
    ]  # fmt: skip
    failed = [err for err in publish(producer, markers, timeout=30) if err is not None]
    if failed:
        raise TopicError(f"replayed, but the record of it could not be written to {letters.topic}: {failed[0].str()}"
                         " (a later replay sends those letters again; consumers skip what they applied)")  # fmt: skip
    for letter in settled:
        _mark_settled(letter, headers)
    marks: dict[Partition, int] = {}
    for p, mark in letters.marks.items():
        pending = [letter.message.offset for letter in letters.letters
                   if letter.message.partition == p and letter.state == "pending"]  # fmt: skip
        ahead = [letter.message.offset + 1 for letter in letters.letters if letter.message.partition == p]
        new_mark = min(pending) if pending else max([mark, *ahead])
        if new_mark > mark:
            marks[(letters.topic, p)] = new_mark
    if marks:
        commit_offsets(replay_group(letters.group), marks)
