"""The outbox relay: publishes committed outbox rows to Kafka, in order, at least once.

Guarantees:
- a row is marked published only after the broker acknowledged it (``acks=all``);
- rows of one key (aggregate) are published in ``id`` order, even with several relays:
  on PostgreSQL each relay claims rows with ``SELECT ... FOR UPDATE SKIP LOCKED`` and
  holds back any key whose older rows another relay holds;
- a crash between the broker's ack and the commit re-sends those rows later: the topic
  may carry a duplicate, which consumers skip by event id.
"""

from __future__ import annotations

import logging
import random
import select
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta

from confluent_kafka import Producer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from servicekit.events import encode_envelope
from servicekit.heartbeat import Heartbeat
from servicekit.kafka import UNPUBLISHABLE, OutgoingMessage, cloudevent_headers, producer_config, publish
from servicekit.outbox import NOTIFY_CHANNEL
from servicekit.outbox.models import OutboxEvent

log = logging.getLogger("servicekit.outbox")

MAX_BACKOFF_SECONDS = 30.0


class CommitListener:
    """Wakes the relay when a writer commits an event (PostgreSQL LISTEN/NOTIFY).

    On other databases ``wait`` simply sleeps for the poll interval.
    """

    def __init__(self) -> None:
        self._conn = None

    def _connect(self) -> None:
        if connection.vendor != "postgresql" or self._conn is not None:
            return
        import psycopg2

        params = connection.get_connection_params()
        self._conn = psycopg2.connect(**params)
        self._conn.set_session(autocommit=True)
        with self._conn.cursor() as cursor:
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float) -> None:
        try:
            self._connect()
        except Exception as exc:  # noqa: BLE001 - psycopg2's errors are not Django's: whatever fails, poll
            log.warning("LISTEN unavailable (%s); polling", exc)
        if self._conn is None:
            time.sleep(timeout)
            return
        try:
            if select.select([self._conn], [], [], timeout)[0]:
                self._conn.poll()
                self._conn.notifies.clear()
        except Exception:  # noqa: BLE001 - a broken listener connection: reconnect next time
            self.close()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


class OutboxRelay:
    def __init__(self, producer: Producer | None = None, *, batch_size: int | None = None) -> None:
        conf = settings.OUTBOX
        self.producer = producer or Producer(producer_config("relay"))
        self._own_producer = producer is None
        self.batch_size = batch_size or conf["BATCH_SIZE"]
        self.poll_interval = conf["POLL_INTERVAL_SECONDS"]
        self.retention = timedelta(hours=conf["RETENTION_HOURS"])
        self.delivery_timeout = settings.KAFKA["DELIVERY_TIMEOUT_MS"] / 1000 + 5
        self.listener = CommitListener()
        self._last_prune = 0.0

    @contextmanager
    def _claim(self) -> Iterator[list[OutboxEvent]]:
        """Yields the next rows to publish, locked for this relay until the block ends.

        Without ``SKIP LOCKED`` (SQLite) there is a single relay and no long transaction:
        SQLite would block every writer while the relay waits on the broker.
        """
        pending = OutboxEvent.objects.filter(published_at__isnull=True, parked_at__isnull=True).order_by("id")
        if not connection.features.has_select_for_update_skip_locked:
            yield self._without_keys_held_elsewhere(list(pending[: self.batch_size]))
            return
        with transaction.atomic():
            rows = list(pending.select_for_update(skip_locked=True)[: self.batch_size])
            yield self._without_keys_held_elsewhere(rows)

    @staticmethod
    def _without_keys_held_elsewhere(rows: list[OutboxEvent]) -> list[OutboxEvent]:
        """Drops rows whose key has an older unpublished row that this relay did not claim.

        That row is being published by another relay, or is parked; ours must wait for it to
        keep the key's order. They stay pending and are claimed again on a later pass.
        """
        if not rows:
            return rows
        mine = {row.id for row in rows}
        blocked_below: dict[str, int] = {}
        for key, row_id in (
            OutboxEvent.objects.filter(published_at__isnull=True, key__in={r.key for r in rows}, id__lt=rows[-1].id)
            .exclude(id__in=mine)
            .values_list("key", "id")
        ):
            blocked_below[key] = min(row_id, blocked_below.get(key, row_id))
        return [row for row in rows if row.id < blocked_below.get(row.key, row.id + 1)]

    def relay_batch(self) -> tuple[int, int]:
        """Publishes one batch. Returns (published, failed)."""
        with self._claim() as rows:
            if not rows:
                return 0, 0
            messages = [
                OutgoingMessage(
                    topic=row.topic,
                    key=row.key,
                    value=encode_envelope(row.payload),
                    headers=cloudevent_headers(),
                )
                for row in rows
            ]
            results = publish(self.producer, messages, timeout=self.delivery_timeout)
            now = timezone.now()
            acked = [row.id for row, err in zip(rows, results, strict=True) if err is None]
            failed = [(row, err) for row, err in zip(rows, results, strict=True) if err is not None]
            with transaction.atomic():
                OutboxEvent.objects.filter(id__in=acked).update(published_at=now)
                for row, err in failed:
                    parked = now if err.code() in UNPUBLISHABLE else None
                    if parked:
                        log.error("outbox: %s %s can never be published (%s); parked, its key waits",
                                  row.event_type, row.event_id, err)  # fmt: skip
                    OutboxEvent.objects.filter(id=row.id).update(
                        attempts=row.attempts + 1, last_error=str(err)[:2000], parked_at=parked
                    )
        if failed:
            log.warning("outbox: %d published, %d failed (%s)", len(acked), len(failed), failed[0][1])
            self._replace_producer()
        elif acked:
            log.debug("outbox: %d published", len(acked))
        return len(acked), len(failed)

    def _replace_producer(self) -> None:
        """Starts the next attempt with a fresh producer.

        An idempotent producer can stay wedged after its broker lost its state (a restart
        of a memory-only broker, a fenced producer id): a new one gets a new producer id.
        What the old one still holds is purged; rows it did deliver late are re-sent,
        which consumers skip as duplicates.
        """
        if not self._own_producer:
            return
        self.producer.purge()
        self.producer.flush(0)
        self.producer = Producer(producer_config("relay"))

    def prune(self) -> int:
        """Deletes published rows older than the retention period."""
        deleted, _ = OutboxEvent.objects.filter(published_at__lt=timezone.now() - self.retention).delete()
        if deleted:
            log.info("outbox: pruned %d published event(s)", deleted)
        return deleted

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Relays until ``should_stop()``; a batch in flight is always finished first."""
        backoff, heartbeat = 0.0, Heartbeat()
        log.info("outbox relay started (batch %d, poll %.3fs)", self.batch_size, self.poll_interval)
        while not should_stop():
            heartbeat.beat()
            try:
                published, failed = self.relay_batch()
                if time.monotonic() - self._last_prune > 300:
                    self.prune()
                    self._last_prune = time.monotonic()
            except DatabaseError as exc:
                log.warning("outbox: database unavailable (%s)", exc)
                close_old_connections()
                self.listener.close()
                published, failed = 0, 1
            if failed and not published:
                # Broker or database down: back off (with jitter), keep the rows pending.
                backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
                self._sleep(backoff * random.uniform(0.8, 1.2), should_stop)
            else:
                backoff = 0.0
                if not published:  # idle: sleep until a commit NOTIFY or the poll interval
                    self.listener.wait(self.poll_interval)
        self.listener.close()
        self.producer.flush(5)
        log.info("outbox relay stopped")

    @staticmethod
    def _sleep(seconds: float, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not should_stop() and time.monotonic() < deadline:
            time.sleep(min(0.1, deadline - time.monotonic()))
