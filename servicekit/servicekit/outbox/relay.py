"""The outbox relay: publishes committed outbox rows to Kafka, in order per key, at least once.

Guarantees:
- a row leaves the outbox (for :class:`PublishedEvent`) only after the broker acknowledged
  it (``acks=all``); until then it stays pending, however long the broker is away;
- the rows of one key are published in ``id`` order: a claim takes only each key's oldest
  rows, and a row is produced only once the previous row of its key is acknowledged
  (:func:`servicekit.kafka.publish`), so a delivery that fails mid-batch cannot be
  overtaken by the next event of its key;
- several relays may run at once (PostgreSQL): a claim locks the keys it takes
  (``pg_try_advisory_xact_lock``) and their rows (``FOR UPDATE SKIP LOCKED``), so another
  relay skips those keys instead of waiting or publishing out of order;
- a parked row (the broker refuses it for good) holds back its own key only; the claim
  skips such keys in SQL, so every other key flows;
- a crash between the broker's ack and the commit re-sends those rows later: the topic may
  carry a duplicate, which consumers skip by event id.

Cost. The outbox table holds only pending rows, but without vacuum (PostgreSQL here runs
with autovacuum off) the index entries of every row ever published stay in its primary key
index. A claim therefore starts at a *floor* (:class:`ClaimFloor`) below which every row is
known to be published, instead of at the start of that index: its cost depends on what is
pending, not on how many events were ever published. Idle relays wait on LISTEN (a NOTIFY
at every commit that wrote outbox rows, sent by a trigger) and cost nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import select
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial

from confluent_kafka import KafkaError, Producer
from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.utils import timezone

from servicekit import tracing
from servicekit.events import encode_envelope
from servicekit.heartbeat import Heartbeat
from servicekit.kafka import (
    HELD_BACK,
    UNPUBLISHABLE,
    OutgoingMessage,
    cloudevent_headers,
    ensure_topics,
    producer_config,
    publish,
)
from servicekit.outbox import NOTIFY_CHANNEL, RESCAN
from servicekit.outbox.models import OutboxEvent, PublishedEvent

log = logging.getLogger("servicekit.outbox")

MAX_BACKOFF_SECONDS = 30.0
#: While the database is away, how often to try it again: catch-up starts within this.
DATABASE_RETRY_SECONDS = 1.0
#: Rows claimed but none published for this long: an error names the row that blocks.
STALL_SECONDS = 30.0
PRUNE_INTERVAL_SECONDS = 300.0
#: Safety net for a lost "rescan" NOTIFY: a full claim scan this often.
RESCAN_INTERVAL_SECONDS = 300.0
# Advisory lock namespace of the relays' per-key locks ("ob").
KEY_LOCK_SPACE = 0x6F62


@dataclass(frozen=True)
class ClaimedRow:
    id: int
    event_id: str
    event_type: str
    topic: str
    key: str
    payload: dict
    created_at: datetime
    attempts: int


# -- the SQL of a claim ---------------------------------------------------------------------

_COLUMNS = "o.id, o.event_id, o.event_type, o.topic, o.key, o.payload, o.created_at, o.attempts"
# A key with a parked row waits behind it (on the partial index outbox_parked_key_idx).
BLOCKED_KEY = "EXISTS (SELECT 1 FROM {table} p WHERE p.parked_at IS NOT NULL AND p.key = o.key)"


# The planner has no statistics of a queue table (autovacuum is off here, and lags anywhere):
# left alone it may scan the whole heap, dead rows and all, and evaluate the advisory lock
# on every pending row. A queue is read through its primary key: say so, for this
# transaction only. (Disabled plans cost 1e10, which would then trigger JIT compilation
# of a sub-millisecond query: no JIT either.)
QUEUE_PLAN = "SET LOCAL enable_seqscan = off; SET LOCAL enable_bitmapscan = off; SET LOCAL jit = off; "


def _claim_sql(vendor: str) -> str:
    table = OutboxEvent._meta.db_table
    blocked = BLOCKED_KEY.format(table=table)
    if vendor != "postgresql":  # SQLite: one relay, no row locks (see OutboxRelay._claim)
        return f"SELECT {_COLUMNS} FROM {table} o WHERE o.parked_at IS NULL AND NOT {blocked} ORDER BY o.id LIMIT %s"
    # The advisory lock comes last in the filter: a key another relay holds is skipped,
    # rows and all, and a key is locked before any of its rows. FOR UPDATE re-reads each
    # row after locking it, so a row another relay published after this statement's
    # snapshot is dropped rather than sent twice.
    return (
        f"SELECT {_COLUMNS} FROM {table} o"
        f" WHERE o.id >= %s AND o.parked_at IS NULL AND NOT {blocked}"
        f" AND pg_try_advisory_xact_lock({KEY_LOCK_SPACE}, hashtext(o.key))"
        " ORDER BY o.id LIMIT %s FOR UPDATE OF o SKIP LOCKED"
    )


# Acknowledged rows leave the outbox for the published table in one statement (PostgreSQL).
MOVE_PUBLISHED = f"""
    WITH moved AS (
        DELETE FROM {OutboxEvent._meta.db_table} WHERE id = ANY(%s)
        RETURNING id, event_id, event_type, topic, key, created_at
    )
    INSERT INTO {PublishedEvent._meta.db_table} (id, event_id, event_type, topic, key, created_at, published_at)
    SELECT id, event_id, event_type, topic, key, created_at, %s FROM moved
"""


class PreparedStatements:
    """The statements a relay runs at every batch, prepared once per database connection.

    At a hundred events a second a batch holds one or two events, and planning its claim
    and its move costs PostgreSQL about as much as running them: prepared, they are planned
    once. Re-prepared after a reconnection (a prepared statement lives in its session).
    """

    def __init__(self, statements: dict[str, tuple[str, tuple[str, ...]]]) -> None:
        #: name -> (SQL with %s placeholders, the parameters' PostgreSQL types)
        self.statements = statements
        self._session: object = None
        self._prepared: set[str] = set()

    def sql(self, cursor, name: str) -> str:
        """``EXECUTE name(%s, ...)``, preparing the statement first on a new session."""
        if connection.connection is not self._session:
            self._session, self._prepared = connection.connection, set()
        sql, types = self.statements[name]
        if name not in self._prepared:
            numbered = sql
            for number in range(1, len(types) + 1):
                numbered = numbered.replace("%s", f"${number}", 1)
            cursor.execute(f"PREPARE {name}({', '.join(types)}) AS {numbered}")
            self._prepared.add(name)
        return f"EXECUTE {name}({', '.join(['%s'] * len(types))})"


PREPARED = PreparedStatements(
    {
        "outbox_claim": (_claim_sql("postgresql"), ("bigint", "bigint")),
        "outbox_move": (MOVE_PUBLISHED, ("bigint[]", "timestamptz")),
    }
)


class ClaimFloor:
    """The lowest outbox id a claim needs to look at, on PostgreSQL.

    Every row below the floor is published (or parked, or waiting behind a parked row:
    retrying or discarding one asks for a rescan). Ids are handed out at insert, not at
    commit, so a row with a lower id than one already seen may still commit later; the
    floor advances past an id only once it is known that no transaction that could hold
    it is still running: a checkpoint records the last id handed out and the time, and once
    every transaction open in the database started after that time (``pg_stat_activity``),
    all ids up to the checkpoint are settled.
    """

    def __init__(self, refresh_interval: float = 0.1) -> None:
        self.value = 0
        self.refresh_interval = refresh_interval
        self._checkpoint: tuple[datetime, int] | None = None
        self._refreshed = 0.0
        self._sequence: str | None = None
        self._blind_warned = False
        self.first_pending: int | None = None

    def rescan(self) -> None:
        self.value, self._checkpoint, self._refreshed = 0, None, 0.0

    def refresh(self, *, force: bool = False) -> None:
        """Moves the floor up to what is safe now (at most every ``refresh_interval``)."""
        now = time.monotonic()
        if not force and now - self._refreshed < self.refresh_interval:
            return
        self._refreshed = now
        table = OutboxEvent._meta.db_table
        with connection.cursor() as cursor:
            if self._sequence is None:
                cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
                self._sequence = cursor.fetchone()[0]
            cursor.execute(
                QUEUE_PLAN
                + f"""
                SELECT
                  (SELECT o.id FROM {table} o
                    WHERE o.id >= %s AND o.parked_at IS NULL AND NOT {BLOCKED_KEY.format(table=table)}
                    ORDER BY o.id LIMIT 1),
                  s.issued, clock_timestamp(),
                  (SELECT min(xact_start) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'client backend'
                      AND pid <> pg_backend_pid()),
                  (SELECT count(*) FROM pg_stat_activity
                    WHERE datname = current_database() AND backend_type = 'client backend' AND state IS NULL)
                FROM (SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS issued FROM {self._sequence}) s
                """,
                [self.value],
            )
            first, issued, clock, oldest, hidden = cursor.fetchone()
        self.first_pending = first
        settled = self.value
        if hidden:
            # Without the right to see other sessions nothing can be proved about ids in
            # flight: the floor stays where the pending rows are known to start.
            if not self._blind_warned:
                log.warning("outbox: this role cannot see other sessions in pg_stat_activity, so claims scan "
                            "the outbox from its start; grant it pg_read_all_stats")  # fmt: skip
                self._blind_warned = True
        else:
            if self._checkpoint is not None and (oldest is None or oldest > self._checkpoint[0]):
                settled = max(settled, self._checkpoint[1] + 1)
                self._checkpoint = None
            if self._checkpoint is None:
                self._checkpoint = (clock, issued)
        self.value = settled if first is None else min(first, settled)


class CommitListener:
    """Wakes the relay when a writer commits outbox rows (PostgreSQL LISTEN/NOTIFY).

    On other databases ``wait`` sleeps for the poll interval and reports a wake-up.
    """

    def __init__(self, poll_interval: float) -> None:
        self.poll_interval = poll_interval
        self._conn = None

    @property
    def listening(self) -> bool:
        return connection.vendor == "postgresql"

    def _connect(self) -> None:
        if not self.listening or self._conn is not None:
            return
        import psycopg2

        self._conn = psycopg2.connect(**connection.get_connection_params())
        self._conn.set_session(autocommit=True)
        with self._conn.cursor() as cursor:
            cursor.execute(f"LISTEN {NOTIFY_CHANNEL}")

    def wait(self, timeout: float, *, should_stop: Callable[[], bool], beat: Callable[[], None]) -> set[str]:
        """Waits up to ``timeout`` for commits; returns the payloads received (``{""}`` for
        plain commits, :data:`RESCAN` when asked to). Empty: nothing happened. Wakes at
        least every second to beat the heartbeat and to see a stop."""
        deadline = time.monotonic() + timeout
        while True:
            beat()
            slice_ = min(1.0, max(0.0, deadline - time.monotonic()))
            payloads = self._wait_once(slice_)
            if payloads or should_stop() or time.monotonic() >= deadline:
                return payloads

    def _wait_once(self, timeout: float) -> set[str]:
        if not self.listening:
            time.sleep(min(timeout, self.poll_interval))
            return {""}
        try:
            self._connect()
            if select.select([self._conn], [], [], timeout)[0]:
                self._conn.poll()
                payloads = {notify.payload for notify in self._conn.notifies}
                self._conn.notifies.clear()
                return payloads
            return set()
        except Exception as exc:  # noqa: BLE001 - psycopg2's errors are not Django's: poll, reconnect later
            log.warning("outbox: LISTEN connection failed (%s); polling until it is back", exc)
            self.close()
            time.sleep(min(timeout, self.poll_interval))
            return {RESCAN}

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
        self.gather = conf["GATHER_MS"] / 1000
        self.idle_wait = conf["IDLE_WAIT_SECONDS"]
        self.retention = timedelta(hours=conf["RETENTION_HOURS"])
        self.delivery_timeout = settings.KAFKA["DELIVERY_TIMEOUT_MS"] / 1000 + 5
        self.listener = CommitListener(conf["POLL_INTERVAL_SECONDS"])
        self.floor = ClaimFloor()
        self.heartbeat = Heartbeat(loop="relay")
        self._prune_floor = 0
        self._last_prune = self._last_rescan = time.monotonic()
        self._stalled_since: float | None = None
        self._stall_reported = 0.0
        self.metrics = None
        if settings.METRICS["ENABLED"]:
            from servicekit.metrics import relay_metrics

            self.metrics = relay_metrics()
            self.metrics.backlog.floor = lambda: self.floor.value

    # -- one batch ---------------------------------------------------------------------------

    def _claim(self, *, begin: bool = False) -> list[ClaimedRow]:
        """The next rows to publish: on PostgreSQL locked until the transaction ends (which
        this statement opens when ``begin``)."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                opening = "BEGIN; " if begin else ""
                claim = PREPARED.sql(cursor, "outbox_claim")
                cursor.execute(opening + QUEUE_PLAN + claim, [self.floor.value, self.batch_size])
            else:
                cursor.execute(_claim_sql(connection.vendor), [self.batch_size])
            rows = cursor.fetchall()
        # The JSON column arrives as text from both backends (Django decodes it in the ORM).
        return [ClaimedRow(*row[:5], json.loads(row[5]) if isinstance(row[5], str) else row[5], *row[6:])
                for row in rows]  # fmt: skip

    def relay_batch(self) -> tuple[int, int]:
        """Claims and publishes one batch. Returns (published, failed).

        On PostgreSQL the claim's row and key locks are held until the rows are recorded,
        in one transaction whose BEGIN travels with the claim and whose COMMIT with the
        move to the published table: two round trips a batch, not four (at a hundred events
        a second a batch holds one or two: round trips are most of its cost). Inside a
        caller's transaction (tests) it is a savepoint of it instead. On SQLite (one writer at
        a time, one relay) no transaction is held open while the broker answers: that would
        block every writer meanwhile.
        """
        if connection.vendor != "postgresql":
            rows = self._claim()
            acked, failed = self._publish(rows)
            with transaction.atomic():
                self._record(acked, failed)
        elif connection.in_atomic_block:
            with transaction.atomic():
                rows = self._claim()
                self.floor.refresh()
                acked, failed = self._publish(rows)
                self._record(acked, failed)
        else:
            rows = self._claim(begin=True)
            try:
                self.floor.refresh()  # for the next claim, under this transaction's plan settings
                acked, failed = self._publish(rows)
                self._record(acked, failed, commit=True)
            except BaseException:
                with contextlib.suppress(DatabaseError), connection.cursor() as cursor:
                    cursor.execute("ROLLBACK")
                raise
        if rows:
            self._note_progress(rows, acked, failed)
        tried = [(row, err) for row, err in failed if err.code() != HELD_BACK]
        if self.metrics is not None and rows:
            parked = sum(1 for _, err in tried if err.code() in UNPUBLISHABLE)
            self.metrics.batch((row.created_at for row in acked), failed=len(tried), parked=parked)
        if tried:
            log.warning("outbox: %d published, %d failed (%s)", len(acked), len(tried), tried[0][1])
            self._replace_producer()
            # A broker that lost its topics (a memory-only one restarted) times sends out
            # rather than saying so: see that they exist before the next attempt.
            self._ensure_topics()
        return len(acked), len(failed)

    def _publish(self, rows: list[ClaimedRow]) -> tuple[list[ClaimedRow], list[tuple[ClaimedRow, KafkaError]]]:
        if not rows:
            return [], []
        spans = tracing.PublishSpans(rows) if tracing.ENABLED else None
        payloads = spans.payloads if spans is not None else [row.payload for row in rows]
        messages = [OutgoingMessage(row.topic, row.key, encode_envelope(payload), cloudevent_headers())
                    for row, payload in zip(rows, payloads, strict=True)]  # fmt: skip
        results = publish(self.producer, messages, timeout=self.delivery_timeout, on_wait=self.heartbeat.beat)
        if spans is not None:
            spans.finish(results)
        acked = [row for row, err in zip(rows, results, strict=True) if err is None]
        return acked, [(row, err) for row, err in zip(rows, results, strict=True) if err is not None]

    def _record(
        self, acked: list[ClaimedRow], failed: list[tuple[ClaimedRow, KafkaError]], *, commit: bool = False
    ) -> None:
        """Acknowledged rows move to the published table; failed ones count an attempt.
        ``commit``: end the transaction the claim opened, with the last statement."""
        now = timezone.now()
        for row, err in failed:
            if err.code() == HELD_BACK:
                continue  # never sent: an earlier row of its key failed first
            parked = now if err.code() in UNPUBLISHABLE else None
            if parked:
                log.error("outbox: row %d (%s, key %s) can never be published (%s); parked, its key waits",
                          row.id, row.event_type, row.key, err)  # fmt: skip
            OutboxEvent.objects.filter(id=row.id).update(
                attempts=row.attempts + 1, last_error=str(err)[:2000], parked_at=parked
            )
        closing = "; COMMIT" if commit else ""
        if acked and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(PREPARED.sql(cursor, "outbox_move") + closing, [[row.id for row in acked], now])
            return
        if acked:
            PublishedEvent.objects.bulk_create(
                PublishedEvent(id=row.id, event_id=row.event_id, event_type=row.event_type, topic=row.topic,
                               key=row.key, created_at=row.created_at, published_at=now)
                for row in acked
            )  # fmt: skip
            OutboxEvent.objects.filter(id__in=[row.id for row in acked]).delete()
        if commit:
            with connection.cursor() as cursor:
                cursor.execute("COMMIT")

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

    # -- stalls ------------------------------------------------------------------------------

    def _note_progress(self, rows: list[ClaimedRow], acked: list, failed: list) -> None:
        if acked or not rows:
            self._stalled_since = None
            return
        now = time.monotonic()
        self._stalled_since = self._stalled_since or now
        if now - self._stalled_since >= STALL_SECONDS and now - self._stall_reported >= STALL_SECONDS:
            self._stall_reported = now
            row, err = failed[0]
            log.error("outbox: nothing published for %.0fs; blocked at row %d (%s, key %s, %d attempts): %s",
                      now - self._stalled_since, row.id, row.event_type, row.key, row.attempts + 1, err)  # fmt: skip

    def _check_waiting(self) -> None:
        """Pending rows that no claim of this relay takes (their key is held elsewhere for
        long, say): an error names the oldest one, every STALL_SECONDS."""
        first = self.floor.first_pending
        if first is None:
            self._stalled_since = None
            return
        now = time.monotonic()
        self._stalled_since = self._stalled_since or now
        if now - self._stalled_since < STALL_SECONDS or now - self._stall_reported < STALL_SECONDS:
            return
        self._stall_reported = now
        row = OutboxEvent.objects.filter(id=first).first()
        if row is not None:
            log.error("outbox: row %d (%s, key %s) has waited %.0fs and this relay cannot claim it: another "
                      "relay holds its key", row.id, row.event_type, row.key, now - self._stalled_since)  # fmt: skip

    # -- upkeep ------------------------------------------------------------------------------

    def prune(self) -> int:
        """Deletes published-event records older than the retention period.

        On PostgreSQL it walks the published table from where the last prune stopped up to
        the first record still kept, for the same reason a claim starts at its floor (and
        never past the claim floor, below which no record can still arrive). A record
        published late (a parked row retried) can so keep the ones after it a little
        longer than the retention: never shorter.
        """
        cutoff = timezone.now() - self.retention
        records = PublishedEvent.objects.all()
        if connection.vendor == "postgresql":
            records = records.filter(id__gte=self._prune_floor)
            kept = records.filter(published_at__gte=cutoff).order_by("id").values_list("id", flat=True).first()
            if kept is not None:
                records = records.filter(id__lt=kept)
            self._prune_floor = min(self.floor.value, kept if kept is not None else self.floor.value)
        deleted, _ = records.filter(published_at__lt=cutoff).delete()
        if deleted:
            log.info("outbox: pruned %d published-event record(s)", deleted)
        return deleted

    # -- the loop ----------------------------------------------------------------------------

    def _ensure_topics(self) -> None:
        """Creates this service's topics if they are missing (the first start, or a restart
        of a memory-only broker): never left to the broker's auto-creation."""
        try:
            created = ensure_topics(timeout=5, on_wait=self.heartbeat.beat).created
        except Exception as exc:  # noqa: BLE001 - the broker is away: the next batch tries again
            log.warning("outbox: could not create the topics (%s)", exc)
            return
        if created:
            log.warning("outbox: created missing topic(s) %s", ", ".join(created))

    def run(self, should_stop: Callable[[], bool]) -> None:
        """Relays until ``should_stop()``; a batch in flight is always finished first."""
        log.info("outbox relay started (batch %d, gather %.0f ms)", self.batch_size, self.gather * 1000)
        self._wait_for(lambda: ensure_topics(timeout=5, on_wait=self.heartbeat.beat), "topics", should_stop)
        backoff, wake = 0.0, True
        while not should_stop():
            self.heartbeat.beat()
            try:
                if wake and self.gather:
                    time.sleep(self.gather)  # commits that arrive together go out together
                published, failed = self.relay_batch()
                self._upkeep()
            except DatabaseError as exc:
                self._database_down(exc, should_stop)
                wake = True
                continue
            if failed and not published:
                # The broker is away or refuses: back off (with jitter), keep the rows pending.
                backoff = min(MAX_BACKOFF_SECONDS, max(0.5, backoff * 2))
                self._sleep(backoff * random.uniform(0.8, 1.2), should_stop)
                continue
            backoff = 0.0
            if published + failed >= self.batch_size:
                wake = False  # a backlog: straight on
                continue
            payloads = self._next_wake(published, should_stop)
            if RESCAN in payloads:
                self.floor.rescan()
            wake = bool(payloads)
        self.listener.close()
        self.producer.flush(5)
        log.info("outbox relay stopped")

    def _next_wake(self, published: int, should_stop: Callable[[], bool]) -> set[str]:
        """Waits for the next commit. After a batch the commits that came meanwhile wake it at
        once; a whole idle wait without any also looks at the outbox itself (a NOTIFY can be
        missed while the listener reconnects), so a pending row never waits for ever."""
        wait = partial(self.listener.wait, should_stop=should_stop, beat=self.heartbeat.beat)
        payloads = wait(0) if published else set()
        if not payloads:
            payloads = wait(self.idle_wait)
        if not payloads and connection.vendor == "postgresql" and not should_stop():
            self.floor.refresh(force=True)
            self._check_waiting()
            if self.floor.first_pending is not None:
                payloads = {""}
        return payloads

    def _upkeep(self) -> None:
        now = time.monotonic()
        if now - self._last_rescan > RESCAN_INTERVAL_SECONDS:
            self._last_rescan = now
            self.floor.rescan()
        if now - self._last_prune > PRUNE_INTERVAL_SECONDS:
            self._last_prune = now
            self.prune()

    def _database_down(self, exc: Exception, should_stop: Callable[[], bool]) -> None:
        log.warning("outbox: database unavailable (%s); retrying every %.0fs", exc, DATABASE_RETRY_SECONDS)
        close_old_connections()
        self.listener.close()
        self.floor.rescan()
        self._sleep(DATABASE_RETRY_SECONDS, should_stop)

    def _wait_for(self, attempt: Callable[[], object], what: str, should_stop: Callable[[], bool]) -> None:
        """Runs ``attempt`` until it succeeds (the broker may still be starting)."""
        while not should_stop():
            try:
                attempt()
                return
            except Exception as exc:  # noqa: BLE001 - whatever the broker answers, wait and try again
                log.warning("outbox: waiting for %s: %s", what, exc)
                self._sleep(DATABASE_RETRY_SECONDS, should_stop)

    def _sleep(self, seconds: float, should_stop: Callable[[], bool]) -> None:
        deadline = time.monotonic() + seconds
        while not should_stop() and time.monotonic() < deadline:
            self.heartbeat.beat()
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def request_rescan() -> None:
    """Asks the relays to claim from the start again: a row below their floor became
    claimable (a parked row retried or discarded). Sent at the caller's commit."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_notify(%s, %s)", [NOTIFY_CHANNEL, RESCAN])


def retry_parked(ids: Iterable[int]) -> int:
    """Unparks these rows: they (and the rows of their keys waiting behind them) are
    published again. Returns how many were parked."""
    with transaction.atomic():
        count = OutboxEvent.objects.filter(id__in=list(ids), parked_at__isnull=False).update(
            parked_at=None, attempts=0, last_error=""
        )
        if count:
            request_rescan()
    return count
