"""The consumer loop every consuming service runs (``manage.py consume_events``).

A service declares what it reacts to in one table (``<app>/handlers.py``)::

    HANDLERS = EventHandlers(group="post_service")

    @HANDLERS.batch("user_events", "user.deleted")
    def handle_users_deleted(received: list[Received]) -> None: ...

The loop, for what has arrived (it never waits for a batch to fill):
1. parse each message as a CloudEvents envelope; one that is not goes to the dead-letter
   topic (retrying cannot fix it); a valid event of a type the service has no handler
   for is skipped (tolerant reader: producers add types without lock-step deploys);
2. in one database transaction, with a constant number of statements: insert the
   batch's event ids into the processed-events table (``ON CONFLICT DO NOTHING
   RETURNING`` says which are new: a redelivery is skipped), and give the new events to
   their handlers, consecutive events of one handler in one call;
3. if a handler fails, the batch is rolled back and applied again one event at a time:
   the failing one is retried with backoff, then dead-lettered, and the rest follow in
   order. A database outage is not the message's fault: the loop waits (checking every
   second) until the database is back, and never dead-letters or skips for it;
4. only after the commit are the offsets stored; stored offsets are committed every
   second, when partitions are revoked and at shutdown.
SIGTERM/SIGINT finish the current batch, commit and close. The heartbeat is beaten in
every wait, so a long outage never looks like a stuck loop.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import groupby

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection, transaction
from django.utils import timezone

from servicekit import tracing
from servicekit.db import insert_rows
from servicekit.events import EventEnvelope, canonical_uuid, dead_letter_topic
from servicekit.heartbeat import Heartbeat
from servicekit.inbox.models import ProcessedEvent
from servicekit.kafka import UNPUBLISHABLE, OutgoingMessage, consumer_config, producer_config, publish

log = logging.getLogger("servicekit.consumer")

COMMIT_INTERVAL_SECONDS = 1.0
#: How long a poll waits for the first message of a batch (then the loop beats and commits).
POLL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
#: While the database is away, how often to try it again: catch-up starts within this.
DATABASE_RETRY_SECONDS = 1.0
#: An outage is logged when it starts and then this often.
OUTAGE_LOG_SECONDS = 30.0
#: PostgreSQL deadlock_detected and serialization_failure: retry, nothing is down.
TRANSIENT_PGCODES = {"40P01", "40001"}


@dataclass(frozen=True)
class Delivery:
    """Where a consumed event came from."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True)
class Received:
    """An event as a handler gets it: the envelope and where it came from."""

    event: EventEnvelope
    delivery: Delivery

    @property
    def id(self) -> str:
        """The event id in canonical form (what deduplication compares)."""
        return self.event.canonical_id


BatchHandler = Callable[[list[Received]], None]


@dataclass
class EventHandlers:
    """What one consuming service reacts to: its group, its topics and a handler per type.

    Types are named as the producer's contract declares them (``docs/asyncapi.yaml``);
    a test checks that every one named here is declared there. Besides its handler, a type
    may have independent ones (servicekit's token revocations, say), which keep to their
    own tables: see :meth:`independent`.
    """

    group: str
    _handlers: dict[tuple[str, str], BatchHandler] = field(default_factory=dict)
    _every: dict[str, BatchHandler] = field(default_factory=dict)
    _independent: dict[tuple[str, str], list[BatchHandler]] = field(default_factory=dict)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.group)

    @property
    def topics(self) -> list[str]:
        return sorted({topic for topic, _ in [*self._handlers, *self._independent]} | set(self._every))

    @property
    def subscriptions(self) -> list[tuple[str, str | None]]:
        """(topic, type) pairs handled; type None: every event of the topic."""
        pairs = sorted({*self._handlers, *self._independent})
        return pairs + [(topic, None) for topic in sorted(self._every)]

    def batch(self, topic: str, *types: str) -> Callable[[BatchHandler], BatchHandler]:
        """Registers a handler that gets consecutive new events of ``types`` in one call."""

        def register(handler: BatchHandler) -> BatchHandler:
            for name in types:
                if (topic, name) in self._handlers:
                    raise ValueError(f"{name} on {topic} has a handler already")
                self._handlers[(topic, name)] = handler
            return handler

        return register

    def each(self, topic: str, *types: str) -> Callable[[Callable[[Received], None]], Callable[[Received], None]]:
        """Registers a handler of one event at a time (for simple cases)."""

        def register(handler: Callable[[Received], None]) -> Callable[[Received], None]:
            def one_by_one(received: list[Received]) -> None:
                for item in received:
                    handler(item)

            one_by_one.__name__ = handler.__name__
            self.batch(topic, *types)(one_by_one)
            return handler

        return register

    def every_event(self, *topics: str) -> Callable[[BatchHandler], BatchHandler]:
        """Registers a handler of every valid event of ``topics``, known type or not."""

        def register(handler: BatchHandler) -> BatchHandler:
            for topic in topics:
                self._every[topic] = handler
            return handler

        return register

    def independent(self, topic: str, *types: str) -> Callable[[BatchHandler], BatchHandler]:
        """Registers a handler of ``types`` that touches nothing the other handlers do, so the
        order between its effects and theirs does not matter: it gets every new event of its
        types in a batch in one call (in their order), after the other handlers, and whatever
        handler those types also have."""

        def register(handler: BatchHandler) -> BatchHandler:
            for name in types:
                registered = self._independent.setdefault((topic, name), [])
                if handler in registered:
                    raise ValueError(f"{handler.__name__} handles {name} on {topic} already")
                registered.append(handler)
            return handler

        return register

    def handler_for(self, topic: str, event_type: str) -> BatchHandler | None:
        return self._handlers.get((topic, event_type)) or self._every.get(topic)

    def independent_handlers_for(self, topic: str, event_type: str) -> tuple[BatchHandler, ...]:
        return tuple(self._independent.get((topic, event_type), ()))

    def handles(self, topic: str, event_type: str) -> bool:
        """Whether any handler takes the event (if none does, it is skipped)."""
        return self.handler_for(topic, event_type) is not None or (topic, event_type) in self._independent


class Interrupted(Exception):
    """A stop was requested while waiting; the offsets of the batch must not be stored."""


class HandlerFailed(Exception):
    """A handler raised: the batch is applied again one event at a time."""


class EventConsumer:
    def __init__(
        self,
        handlers: EventHandlers,
        *,
        group: str | None = None,
        consumer: Consumer | None = None,
        producer: Producer | None = None,
    ) -> None:
        self.handlers = handlers
        self.group = group or handlers.group
        self.topics = handlers.topics
        self.dead_letter_topic = handlers.dead_letter_topic
        self.consumer = consumer or Consumer(consumer_config(self.group))
        self.producer = producer or Producer(producer_config("dlq"))
        self.attempts = max(1, settings.KAFKA["HANDLER_ATTEMPTS"])
        self.batch_size = settings.KAFKA["CONSUMER_BATCH_SIZE"]
        self.delivery_timeout = settings.KAFKA["DELIVERY_TIMEOUT_MS"] / 1000 + 5
        self.heartbeat = Heartbeat(loop="consumer")
        self.counts: Counter[str] = Counter()
        self._should_stop: Callable[[], bool] = lambda: False
        self._uncommitted = False
        self._last_commit = time.monotonic()
        self._outage_since: float | None = None
        self._outage_logged = 0.0
        self._warned_topics: set[str] = set()
        self.metrics = None
        if settings.METRICS["ENABLED"]:
            from servicekit.metrics import consumer_metrics

            self.metrics = consumer_metrics()

    # -- the loop --------------------------------------------------------------------------

    def wait_for_own_topics(self, should_stop: Callable[[], bool]) -> None:
        """Creates the topics this service owns (its dead-letter topic), waiting for the
        broker as long as it takes; the topics it reads are created by their owners."""
        from servicekit.kafka import ensure_topics

        self._should_stop = should_stop
        while not should_stop():
            try:
                ensure_topics(timeout=5, on_wait=self.heartbeat.beat)
                return
            except KafkaException as exc:
                log.warning("waiting for the broker: %s", exc)
                try:
                    self._pause(DATABASE_RETRY_SECONDS)
                except Interrupted:
                    return

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Consumes until ``should_stop()``."""
        self._should_stop = should_stop
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        log.info("consuming %s as group %s", ", ".join(self.topics), self.group)
        if self.metrics is not None:
            self.metrics.lag.watch(self.group, self.topics)
        try:
            while not should_stop():
                self.heartbeat.beat()
                first = self.consumer.poll(POLL_SECONDS)
                if first is not None:
                    # What has arrived, never a wait for more.
                    messages = [first, *self.consumer.consume(self.batch_size - 1, timeout=0)]
                    try:
                        self.handle_batch([m for m in messages if not self._is_error(m)])
                    except Interrupted:
                        break
                self._commit_if_due()
        finally:
            self._commit()
            if self.metrics is not None:
                self.metrics.lag.watch(None, [])
            self.consumer.close()
            self.producer.flush(5)
            log.info("consumer %s stopped", self.group)

    def handle_batch(self, messages: Sequence[Message]) -> None:
        """Applies ``messages`` in order, storing each offset once its effect is committed.

        Raises Interrupted on a stop while waiting (the offsets not stored are redelivered).
        """
        started = time.perf_counter()
        parsed = [(message, _parse(message)) for message in messages]
        index = 0
        while index < len(parsed):
            end = next((i for i in range(index, len(parsed)) if isinstance(parsed[i][1], Exception)), len(parsed))
            self._apply_run(parsed[index:end])
            if end < len(parsed):
                message, error = parsed[end]
                self._dead_letter(message, f"invalid event: {error}")
                self._stored(message)
            index = end + 1
        if self.metrics is not None:
            self.metrics.batch_size.observe(len(messages))
            self.metrics.batch_duration.observe(time.perf_counter() - started)

    # -- applying --------------------------------------------------------------------------

    def _apply_run(self, run: Sequence[tuple[Message, Received | Exception]]) -> None:
        """Valid events: the batch path (a constant number of statements), or, when a
        handler fails, one event at a time."""
        if not run:
            return
        received = [item for _, item in run]
        try:
            applied = self._with_database(lambda: self._apply(received))
        except HandlerFailed as failure:
            log.warning("a handler failed in a batch of %d (%r); applying them one by one", len(run), failure.__cause__)
            for message, item in run:
                self._apply_alone(message, item)
            return
        for message, _ in run:
            self._stored(message)
        self._log_events(received, applied)

    def _apply(self, received: Sequence[Received]) -> set[str]:
        """One transaction: the new events' ids recorded and their effects applied.
        Returns the ids that were new. Raises HandlerFailed (everything rolled back)."""
        plan: list[tuple[Received, BatchHandler | None, tuple[BatchHandler, ...]]] = []
        seen: set[str] = set()
        for item in received:  # first copies of the events some handler takes
            topic, event_type = item.delivery.topic, item.event.type
            handler = self.handlers.handler_for(topic, event_type)
            independent = self.handlers.independent_handlers_for(topic, event_type)
            if (handler is not None or independent) and item.id not in seen:
                seen.add(item.id)
                plan.append((item, handler, independent))
        if not plan:
            return set()
        traced = (tracing.apply_spans([item for item, _, _ in plan], group=self.group)
                  if tracing.ENABLED else contextlib.nullcontext())  # fmt: skip
        with traced, transaction.atomic():
            new = record_processed([item for item, _, _ in plan])
            fresh = [entry for entry in plan if entry[0].id in new]
            ordered = [(item, handler) for item, handler, _ in fresh if handler is not None]
            for handler, group in groupby(ordered, key=lambda pair: pair[1]):
                self._call(handler, [item for item, _ in group])
            for independent in dict.fromkeys(h for _, _, hs in fresh for h in hs):
                self._call(independent, [item for item, _, hs in fresh if independent in hs])
        return new

    @staticmethod
    def _call(handler: BatchHandler, events: list[Received]) -> None:
        """Raises HandlerFailed for anything but the database being away."""
        try:
            handler(events)
        except (OperationalError, InterfaceError):
            raise
        except Exception as exc:
            raise HandlerFailed from exc
        if connection.needs_rollback:
            # The handler swallowed a database error: leaving the block would roll
            # back silently, and the offsets must not be stored for it.
            raise HandlerFailed from OperationalError("the transaction was marked for rollback")

    def _apply_alone(self, message: Message, received: Received) -> None:
        """One event in its own transaction: retried with backoff, then dead-lettered."""
        failures = 0
        while True:
            try:
                applied = self._with_database(lambda: self._apply([received]))
            except HandlerFailed as failure:
                failures += 1
                log.warning("%s %s: handler failed (%r)", received.event.type, received.delivery, failure.__cause__,
                            exc_info=failure.__cause__)  # fmt: skip
                if failures >= self.attempts:
                    log.error("%s %s failed %d times; dead-lettering", received.event.type, received.delivery, failures)
                    self._dead_letter(message, f"handler failed: {failure.__cause__!r}")
                    break
                self._pause(0.2 * 2**failures)
                continue
            self._log_events([received], applied)
            break
        self._stored(message)

    def _with_database(self, attempt: Callable[[], set[str]]) -> set[str]:
        """Runs ``attempt`` until the database lets it: an outage is waited out (checking
        every second), a deadlock or serialization failure retried at once."""
        while True:
            try:
                result = attempt()
            except (OperationalError, InterfaceError) as exc:
                if getattr(exc.__cause__, "pgcode", None) in TRANSIENT_PGCODES:
                    log.info("transaction conflict (%s); retrying", exc.__cause__.pgcode)
                    self._pause(0.05)
                    continue
                self._database_down(exc)
                continue
            if self._outage_since is not None:
                log.warning("database is back after %.1fs", time.monotonic() - self._outage_since)
                self._outage_since = None
            return result

    def _database_down(self, exc: Exception) -> None:
        now = time.monotonic()
        if self._outage_since is None:
            self._outage_since, self._outage_logged = now, now
            log.warning("database unavailable (%s); retrying every %.0fs", exc, DATABASE_RETRY_SECONDS)
        elif now - self._outage_logged >= OUTAGE_LOG_SECONDS:
            self._outage_logged = now
            log.warning("database still unavailable after %.0fs (%s)", now - self._outage_since, exc)
        close_old_connections()
        self._pause(DATABASE_RETRY_SECONDS)

    def _stored(self, message: Message) -> None:
        self.consumer.store_offsets(message=message)
        self._uncommitted = True

    # -- dead letters ------------------------------------------------------------------------

    def _dead_letter(self, message: Message, error: str) -> None:
        """Copies the message to ``<group>.dlq`` and waits for the broker's ack."""
        delivery = _delivery(message)
        headers = [
            *(message.headers() or []),
            ("dlq.origin.topic", delivery.topic.encode()),
            ("dlq.origin.partition", str(delivery.partition).encode()),
            ("dlq.origin.offset", str(delivery.offset).encode()),
            ("dlq.consumer.group", self.group.encode()),
            ("dlq.error", error[:1000].encode()),
        ]
        outgoing = OutgoingMessage(self.dead_letter_topic, message.key(), message.value() or b"", headers)
        backoff = 0.0
        while (err := self._publish_dead_letter(outgoing)) is not None:
            if err.code() in UNPUBLISHABLE and outgoing.value:
                # Too large for the dead-letter topic too: keep the record of it, not the value.
                outgoing.value = b""
                outgoing.headers.append(("dlq.value.dropped", str(err).encode()[:1000]))
                continue
            backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
            log.warning("dead-letter publish of %s failed (%s); retrying in %.1fs", delivery, err, backoff)
            self._pause(backoff)
        self.counts["dead_lettered"] += 1
        if self.metrics is not None:
            self.metrics.dead_lettered.labels(delivery.topic).inc()
        log.warning("dead-lettered %s to %s: %s", delivery, self.dead_letter_topic, error)

    def _publish_dead_letter(self, outgoing: OutgoingMessage) -> KafkaError | None:
        return publish(self.producer, [outgoing], timeout=self.delivery_timeout, on_wait=self.heartbeat.beat)[0]

    # -- offsets -------------------------------------------------------------------------------

    def _commit_if_due(self) -> None:
        if self._uncommitted and time.monotonic() - self._last_commit >= COMMIT_INTERVAL_SECONDS:
            self._commit(asynchronous=True)

    def _commit(self, *, asynchronous: bool = False) -> None:
        if not self._uncommitted:
            return
        try:
            self.consumer.commit(asynchronous=asynchronous)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:
                # Not fatal: the events are recorded, a redelivery will be skipped.
                log.warning("offset commit failed: %s", exc)
        self._uncommitted = False
        self._last_commit = time.monotonic()

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit()

    def _is_error(self, message: Message) -> bool:
        error = message.error()
        if error is None:
            return False
        if error.fatal():
            raise KafkaException(error)
        if error.code() == KafkaError.UNKNOWN_TOPIC_OR_PART:
            # Its owner has not created it yet (topics are never auto-created): say so once.
            if message.topic() not in self._warned_topics:
                self._warned_topics.add(message.topic())
                log.warning("topic %s does not exist yet; waiting for its owner to create it", message.topic())
        elif error.code() != KafkaError._PARTITION_EOF:
            log.warning("kafka: %s", error)
        return True

    # -- helpers -------------------------------------------------------------------------------

    def _pause(self, seconds: float) -> None:
        """Sleeps, beating the heartbeat; raises Interrupted on a stop."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self._should_stop():
                raise Interrupted
            self.heartbeat.beat()
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _log_events(self, received: Iterable[Received], applied: set[str]) -> None:
        now, logged = time.time(), set()
        applied_by_type: Counter[tuple[str, str]] = Counter()
        duplicates: Counter[str] = Counter()
        lags: list[float] = []
        for item in received:
            event, delivery = item.event, item.delivery
            if not self.handlers.handles(delivery.topic, event.type):
                self.counts["skipped"] += 1
                log.debug("%s %s: no handler in this service, skipped", event.type, delivery)
                continue
            duplicate = item.id not in applied or item.id in logged
            logged.add(item.id)
            self.counts["duplicates" if duplicate else "applied"] += 1
            lag = max(0.0, now - event.timestamp.timestamp())
            lag_ms = int(lag * 1000)
            if duplicate:
                duplicates[delivery.topic] += 1
            else:
                applied_by_type[(delivery.topic, event.type)] += 1
                lags.append(lag)
            # The line comes after the transaction (and its apply span): it names the trace itself.
            trace_id = tracing.trace_id_of(event.extensions) if tracing.ENABLED else None
            log.info(
                "%s user=%s subject=%s %s lag=%dms%s%s",
                event.type,
                event.userid,
                event.subject,
                delivery,
                lag_ms,
                " (duplicate, skipped)" if duplicate else "",
                f" trace_id={trace_id}" if trace_id else "",
                extra={
                    **({"trace_id": trace_id} if trace_id else {}),
                    "event_id": event.id,
                    "event_type": event.type,
                    "user_id": event.userid,
                    "subject": event.subject,
                    "topic": delivery.topic,
                    "partition": delivery.partition,
                    "offset": delivery.offset,
                    "lag_ms": lag_ms,
                    "duplicate": duplicate,
                },
            )
        if self.metrics is not None:
            self.metrics.events(applied_by_type, duplicates, lags)


def _delivery(message: Message) -> Delivery:
    return Delivery(message.topic(), message.partition(), message.offset())


def _parse(message: Message) -> Received | Exception:
    try:
        return Received(EventEnvelope.from_json(message.value()), _delivery(message))
    except Exception as exc:  # noqa: BLE001 - InvalidEvent, or anything else a value can cause: dead-lettered
        return exc


def record_processed(received: Sequence[Received]) -> set[str]:
    """Records the events as processed, in one statement; returns the ids that were new.

    ``INSERT ... ON CONFLICT DO NOTHING RETURNING``: an id already there (a redelivery) is
    not returned, so its handler does not run again. Runs in the caller's transaction.
    """
    unique = {item.id: item for item in received}
    now = timezone.now()
    rows = [(id_, item.event.type, item.delivery.topic, item.delivery.partition, item.delivery.offset, now)
            for id_, item in unique.items()]  # fmt: skip
    columns = ("event_id", "event_type", "topic", "partition", "offset", "processed_at")
    new = insert_rows(ProcessedEvent, columns, rows, skip_conflicts_on="event_id")
    return {canonical_uuid(str(value)) for value in new}
