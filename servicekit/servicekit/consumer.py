"""The consumer loop every consuming service runs (``manage.py consume_events``).

For each message, in partition order:
1. parse the CloudEvents envelope; a message that is not one goes to the dead-letter
   topic at once (retrying cannot fix it);
2. in one database transaction: insert the event id into the processed-events table
   and run the handler registered for the event type; an event already there is a
   redelivery and is skipped, so every effect happens exactly once (consecutive
   messages share a transaction, each in its own savepoint: one commit per batch);
3. a handler that keeps failing is retried with backoff, then dead-lettered; a database
   outage is not the message's fault: the loop waits on that message until the database
   is back (it never dead-letters or skips it);
4. only then is the offset stored; stored offsets are committed every second, when
   partitions are revoked and at shutdown.
SIGTERM/SIGINT finish the current message, commit and close.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, transaction

from servicekit.events import EventEnvelope, EventType
from servicekit.heartbeat import Heartbeat
from servicekit.inbox.models import ProcessedEvent
from servicekit.kafka import UNPUBLISHABLE, OutgoingMessage, consumer_config, producer_config, publish

log = logging.getLogger("servicekit.consumer")

COMMIT_INTERVAL_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
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


Handler = Callable[[EventEnvelope, Delivery], None]


class Interrupted(Exception):
    """A stop was requested while waiting on a message; its offset must not be stored."""


class EventConsumer:
    def __init__(
        self,
        *,
        group: str,
        topics: list[str],
        handlers: Mapping[EventType, Handler],
        consumer: Consumer | None = None,
        producer: Producer | None = None,
        dead_letter_topic: str | None = None,
    ) -> None:
        self.group = str(group)
        self.topics = [str(t) for t in topics]
        self.handlers = handlers
        self.dead_letter_topic = dead_letter_topic or f"{self.group}.dlq"
        self.consumer = consumer or Consumer(consumer_config(self.group))
        self.producer = producer or Producer(producer_config("dlq"))
        self.attempts = max(1, settings.KAFKA["HANDLER_ATTEMPTS"])
        self.batch_size = settings.KAFKA["CONSUMER_BATCH_SIZE"]
        self.delivery_timeout = settings.KAFKA["DELIVERY_TIMEOUT_MS"] / 1000 + 5
        self._uncommitted = False
        self._last_commit = time.monotonic()

    # -- the loop --------------------------------------------------------------------------

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Consumes until ``should_stop()``."""
        self.consumer.subscribe(self.topics, on_revoke=self._on_revoke)
        log.info("consuming %s as group %s", ", ".join(self.topics), self.group)
        heartbeat = Heartbeat()
        try:
            while not should_stop():
                heartbeat.beat()
                batch = []
                for message in self.consumer.consume(self.batch_size, timeout=0.5):
                    if message.error():
                        self._on_kafka_error(message.error())
                    else:
                        batch.append(message)
                try:
                    self.handle_batch(batch, should_stop)
                except Interrupted:
                    break
                self._commit_if_due()
        finally:
            self._commit()
            self.consumer.close()
            self.producer.flush(5)
            log.info("consumer %s stopped", self.group)

    def handle_batch(self, messages: list[Message], should_stop: Callable[[], bool]) -> None:
        """Applies ``messages`` in order, storing each offset once its effect is committed.

        Consecutive good messages share one transaction (each in its own savepoint), so a
        burst costs one commit, not one per event. A message that needs care of its own
        (not an event, or its handler failed) ends that run: it is then retried or
        dead-lettered alone, and the rest follow in order.
        """
        index = 0
        while index < len(messages):
            index, error = self._apply_run(messages, index, should_stop)
            if index < len(messages):
                self.handle(messages[index], should_stop, failed_with=error)
                self._stored(messages[index])
                index += 1

    def _apply_run(
        self, messages: list[Message], start: int, should_stop: Callable[[], bool]
    ) -> tuple[int, Exception | None]:
        """Applies ``messages[start:]`` in one transaction up to the first that needs care
        of its own. Returns its index (``len(messages)`` when all went in) and the error
        of its handler, if that is why."""
        db_backoff = 0.0
        while True:
            applied: list[tuple[EventEnvelope, Delivery, bool]] = []
            stop_at, error = len(messages), None
            try:
                with transaction.atomic():
                    for index in range(start, len(messages)):
                        event, delivery, handler = self._parse(messages[index])
                        if event is None:
                            stop_at = index
                            break
                        if handler is None:  # an event type this service does not react to
                            continue
                        try:
                            applied.append((event, delivery, self._apply(event, delivery, handler)))
                        except (OperationalError, InterfaceError):
                            raise
                        except Exception as exc:  # noqa: BLE001 - its savepoint is rolled back; handled alone
                            stop_at, error = index, exc
                            break
                    if transaction.get_connection().needs_rollback:
                        # A savepoint could not be rolled back (the connection broke under the
                        # handler): leaving the block would roll everything back silently, and
                        # the offsets below must not be stored for it.
                        raise OperationalError("the transaction was marked for rollback")
            except (OperationalError, InterfaceError) as exc:
                db_backoff = self._wait_for_database(exc, db_backoff, should_stop)
                continue
            for message in messages[start:stop_at]:
                self._stored(message)
            for event, delivery, was_applied in applied:
                self._log_event(event, delivery, was_applied)
            return stop_at, error

    def _parse(self, message: Message) -> tuple[EventEnvelope | None, Delivery, Handler | None]:
        delivery = Delivery(message.topic(), message.partition(), message.offset())
        try:
            event = EventEnvelope.from_json(message.value())
        except Exception:  # noqa: BLE001 - whatever fails to parse is dead-lettered by handle()
            return None, delivery, None
        return event, delivery, self.handlers.get(event.type)

    def handle(
        self, message: Message, should_stop: Callable[[], bool], *, failed_with: Exception | None = None
    ) -> None:
        """Applies one message alone, retrying a failing handler, or dead-letters it.
        ``failed_with``: the error of an attempt already made (in a batch).

        Raises Interrupted on a stop while waiting (the offset must then not be stored).
        """
        delivery = Delivery(message.topic(), message.partition(), message.offset())
        try:
            event = EventEnvelope.from_json(message.value())
        except Exception as exc:  # noqa: BLE001 - InvalidEvent, or anything else a value can cause
            self._dead_letter(message, delivery, f"invalid event: {exc}", should_stop)
            return
        handler = self.handlers.get(event.type)
        if handler is None:
            log.debug("%s %s: no handler in this service, skipped", event.type, delivery)
            return
        db_backoff, failures, last_error = 0.0, int(failed_with is not None), failed_with
        while True:
            if failures:
                if failures >= self.attempts:
                    log.error("%s %s failed %d times; dead-lettering", event.type, delivery, failures)
                    self._dead_letter(message, delivery, f"handler failed: {last_error!r}", should_stop)
                    return
                self._pause(0.2 * 2**failures, should_stop)
            try:
                applied = self._apply(event, delivery, handler)
            except (OperationalError, InterfaceError) as exc:
                db_backoff = self._wait_for_database(exc, db_backoff, should_stop)
                continue
            except Exception as exc:  # noqa: BLE001 - whatever a handler raises is retried, then dead-lettered
                log.warning("%s %s: handler failed (%r)", event.type, delivery, exc, exc_info=True)
                failures, last_error = failures + 1, exc
                continue
            self._log_event(event, delivery, applied)
            return

    def _apply(self, event: EventEnvelope, delivery: Delivery, handler: Handler) -> bool:
        """The handler's effect and the processed-event row, together (one savepoint).

        Returns False, doing nothing, for an event already processed (a redelivery).
        """
        with transaction.atomic():
            if ProcessedEvent.objects.filter(event_id=event.id).exists():
                return False
            ProcessedEvent.objects.create(
                event_id=event.id,
                event_type=event.type.value,
                topic=delivery.topic,
                partition=delivery.partition,
                offset=delivery.offset,
            )
            handler(event, delivery)
        return True

    def _wait_for_database(self, exc: Exception, backoff: float, should_stop: Callable[[], bool]) -> float:
        """The database, not the message, failed: wait (doubling, up to 30 s) and reconnect.
        Returns the next backoff. However long the outage, no message is skipped. A deadlock
        or serialization failure (two consumers' batches crossing) is retried at once."""
        if getattr(exc.__cause__, "pgcode", None) in TRANSIENT_PGCODES:
            log.info("transaction conflict (%s); retrying", exc.__cause__.pgcode)
            self._pause(0.05, should_stop)
            return backoff
        backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
        log.warning("database unavailable (%s); retrying in %.1fs", exc, backoff)
        close_old_connections()
        self._pause(backoff, should_stop)
        return backoff

    def _stored(self, message: Message) -> None:
        self.consumer.store_offsets(message=message)
        self._uncommitted = True

    # -- dead letters ------------------------------------------------------------------------

    def _dead_letter(self, message: Message, delivery: Delivery, error: str, should_stop: Callable[[], bool]) -> None:
        """Copies the message to ``<group>.dlq`` and waits for the broker's ack."""
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
        while (err := publish(self.producer, [outgoing], timeout=self.delivery_timeout)[0]) is not None:
            if err.code() in UNPUBLISHABLE and outgoing.value:
                # Too large for the dead-letter topic too: keep the record of it, not the value.
                outgoing.value = b""
                outgoing.headers.append(("dlq.value.dropped", str(err).encode()[:1000]))
                continue
            backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
            log.warning("dead-letter publish of %s failed (%s); retrying in %.1fs", delivery, err, backoff)
            self._pause(backoff, should_stop)
        log.warning("dead-lettered %s to %s: %s", delivery, self.dead_letter_topic, error)

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

    def _on_kafka_error(self, error: KafkaError) -> None:
        if error.fatal():
            raise KafkaException(error)
        if error.code() != KafkaError._PARTITION_EOF:
            log.warning("kafka: %s", error)

    # -- helpers -------------------------------------------------------------------------------

    def _pause(self, seconds: float, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if should_stop():
                raise Interrupted
            time.sleep(min(0.1, deadline - time.monotonic()))

    def _log_event(self, event: EventEnvelope, delivery: Delivery, applied: bool) -> None:
        lag_ms = max(0, int((time.time() - event.timestamp.timestamp()) * 1000))
        log.info(
            "%s user=%s subject=%s %s lag=%dms%s",
            event.type,
            event.userid,
            event.subject,
            delivery,
            lag_ms,
            "" if applied else " (duplicate, skipped)",
            extra={
                "event_id": event.id,
                "event_type": event.type.value,
                "user_id": event.userid,
                "subject": event.subject,
                "topic": delivery.topic,
                "partition": delivery.partition,
                "offset": delivery.offset,
                "lag_ms": lag_ms,
                "duplicate": not applied,
            },
        )
