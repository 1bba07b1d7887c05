"""The event pipeline, each figure beside a baseline measured in the same run (``make bench``).

1. consumer drain: one ``consume_events`` of consumer_service drains a 50,000-event backlog
   (writing its line per event to a log file), beside a bare confluent-kafka loop doing the
   same inserts (execute_values, a commit per batch, no deduplication, no summaries), in
   alternation;
2. relay drain: one ``relay_outbox`` publishes a 50,000-row backlog, beside a bare producer
   sending the same messages;
3. latency at 100 creates/s: HTTP 201 -> consumer_service row committed, beside the
   broker's own produce -> consume latency at the same rate; on PostgreSQL and on SQLite;
4. cost at 100 creates/s: CPU per event of every process (web, relay, consumer, broker and
   their PostgreSQL backends), with the pipeline running and paused;
5. create throughput (wrk) with relays and consumers running vs paused, in alternation;
6. idle: CPU of idle relays, consumers and broker over 10 s.
"""

from __future__ import annotations

import contextlib
import json
import re
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import psycopg2
from confluent_kafka import Consumer, Producer
from psycopg2.extras import execute_values

from bench.harness import (
    ROOT,
    BenchStack,
    backend_pids,
    fmt_ms,
    measured_cpu,
    paced_posts,
    percentiles,
    report,
    run_sections,
    section_parser,
    sql,
)
from servicekit.events import CONTENT_TYPE, EventEnvelope
from tests.e2e.stack import database_url

BACKLOG = 50_000
TOPICS = ("user_events", "post_events", "note_events")


def _producer(stack: BenchStack) -> Producer:
    return Producer({"bootstrap.servers": stack.broker.bootstrap_servers, "linger.ms": 5,
                     "enable.idempotence": False, "allow.auto.create.topics": False,
                     "queue.buffering.max.messages": 200_000})  # fmt: skip


def _events(count: int) -> list[tuple[str, str, bytes]]:
    """(topic, key, value) of ``count`` realistic events of 1,000 users."""
    users = [str(uuid.uuid4()) for _ in range(1000)]
    kinds = [("post_events", "post.created"), ("note_events", "note.created"), ("post_events", "post.updated"),
             ("note_events", "note.deleted"), ("user_events", "user.logged_in")]  # fmt: skip
    out = []
    for i in range(count):
        topic, kind = kinds[i % len(kinds)]
        subject = str(uuid.uuid4())
        # The fields of the contract (posts/events.py): ids and times.
        when = "2026-12-02T10:00:00.000000Z"
        data = {"id": subject, "user_id": users[i % 1000], "created_at": when, "updated_at": when}
        event = EventEnvelope(source="bench", type=kind, subject=subject, userid=users[i % 1000], data=data)
        out.append((topic, subject, event.to_json()))
    return out


def _produce(stack: BenchStack, messages: list[tuple[str, str, bytes]]) -> float:
    producer = _producer(stack)
    started = time.perf_counter()
    for topic, key, value in messages:
        while True:
            try:
                producer.produce(topic, key=key, value=value, headers=[("content-type", CONTENT_TYPE.encode())])
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(60) == 0
    return time.perf_counter() - started


# -- 1. consumer drain --------------------------------------------------------------------------


def _bare_consume(stack: BenchStack, count: int, batch: int) -> tuple[float, float]:
    """A bare loop: consume, INSERT the rows (execute_values), commit, commit offsets.
    Returns (seconds from first message to last commit, its CPU seconds)."""
    consumer = Consumer({"bootstrap.servers": stack.broker.bootstrap_servers, "group.id": "bench-bare",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "fetch.wait.max.ms": 50})  # fmt: skip
    consumer.subscribe(list(TOPICS))
    conn = psycopg2.connect(database_url(stack.database("consumer")))
    seen, first = 0, None
    cpu_start = time.process_time()
    with conn.cursor() as cursor:
        while seen < count:
            messages = consumer.consume(batch, timeout=1.0)
            if not messages:
                continue
            first = first or time.perf_counter()
            rows = []
            for m in messages:
                if m.error():
                    continue
                doc = json.loads(m.value())
                rows.append((doc["id"], doc["type"], doc["source"], doc["subject"], doc["userid"], doc["time"],
                             json.dumps(doc["data"]), m.topic(), m.partition(), m.offset()))  # fmt: skip
            execute_values(cursor, "INSERT INTO bare_event (id, type, source, subject, user_id, time, data, topic, "
                           "partition, \"offset\") VALUES %s", rows, page_size=len(rows) or 1)  # fmt: skip
            conn.commit()
            consumer.commit(asynchronous=True)
            seen += len(rows)
    elapsed = time.perf_counter() - first
    with contextlib.suppress(Exception):  # nothing new to commit: the last async one did it
        consumer.commit(asynchronous=False)
    consumer.close()
    conn.close()
    return elapsed, time.process_time() - cpu_start


def _project_consume(stack: BenchStack, count: int) -> tuple[float, float]:
    database = stack.database("consumer")
    before = sql(database, "SELECT count(*) FROM activity_event")[0][0]
    proc = stack.start("consume-consumer")
    deadline = time.monotonic() + 600
    try:
        with measured_cpu({"consumer": lambda: stack.pids("consume-consumer")}) as cpu:
            while sql(database, "SELECT count(*) FROM activity_event")[0][0] < before + count:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.2)
    finally:
        stack.stop("consume-consumer")
    first, last = sql(database, "SELECT min(received_at), max(received_at) FROM (SELECT received_at FROM "
                      "activity_event ORDER BY received_at DESC LIMIT %s) t", [count])[0]  # fmt: skip
    return (last - first).total_seconds(), cpu["consumer"]


def consumer_drain(rounds: int, batch: int) -> None:
    # At INFO, as under make run: the consumer writes its readable line for every event.
    with BenchStack(extra_env={"CONSUMER_BATCH_SIZE": str(batch), "LOG_LEVEL": "INFO"}) as stack:
        # The same table, indexes and all: the same inserts.
        sql(stack.database("consumer"), "CREATE TABLE bare_event (LIKE activity_event INCLUDING ALL)")
        sql(stack.database("consumer"), "ALTER TABLE bare_event ALTER received_at SET DEFAULT clock_timestamp()")
        project, bare = [], []
        for round_ in range(rounds):
            _produce(stack, _events(BACKLOG))
            order = [("bare", _bare_consume, (stack, BACKLOG, batch)), ("project", _project_consume, (stack, BACKLOG))]
            for name, run, args in order if round_ % 2 == 0 else reversed(order):
                seconds, cpu = run(*args)
                (project if name == "project" else bare).append((BACKLOG / seconds, cpu * 1000 / BACKLOG))
        report(
            f"consumer drain: {BACKLOG:,}-event backlog, batches of {batch}, PostgreSQL",
            _versus("consume_events (consumer_service)", project, "bare confluent-kafka + INSERT", bare, "events/s"),
        )


def _versus(name: str, runs: list[tuple[float, float]], baseline: str, base: list[tuple[float, float]],
            unit: str) -> list[str]:  # fmt: skip
    """Lines comparing the median rate (and CPU per event) of two sets of runs."""

    def line(label: str, rs: list[tuple[float, float]]) -> str:
        rate, cpu = statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)
        return f"{label:36s} {rate:8.0f} {unit}  CPU {cpu:.3f} ms/event  runs {', '.join(f'{r[0]:.0f}' for r in rs)}"

    ratio = statistics.median(r[0] for r in runs) / statistics.median(r[0] for r in base)
    return [line(name, runs), line(baseline, base), f"{'ratio':36s} {ratio:8.2f}"]


# -- 2. relay drain ---------------------------------------------------------------------------


def _fill_outbox(stack: BenchStack, count: int) -> None:
    payload = json.loads(_events(1)[0][2])
    sql(stack.database("post"), "INSERT INTO outbox_outboxevent (event_id, event_type, topic, key, payload, created_at,"
        " attempts, last_error) SELECT gen_random_uuid(), 'post.created', 'post_events', gen_random_uuid()::text, "
        "%s::jsonb, now(), 0, '' FROM generate_series(1, %s)", [json.dumps(payload), count])  # fmt: skip


def _project_relay(stack: BenchStack, count: int) -> tuple[float, float]:
    database = stack.database("post")
    _fill_outbox(stack, count)
    proc = stack.start("relay-post")
    deadline = time.monotonic() + 600
    try:
        with measured_cpu({"relay": lambda: stack.pids("relay-post")}) as cpu:
            while sql(database, "SELECT EXISTS (SELECT 1 FROM outbox_outboxevent)")[0][0]:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
    finally:
        stack.stop("relay-post")
    first, last = sql(database, "SELECT min(published_at), max(published_at) FROM (SELECT published_at FROM "
                      "outbox_publishedevent ORDER BY id DESC LIMIT %s) t", [count])[0]  # fmt: skip
    return (last - first).total_seconds(), cpu["relay"]


def relay_drain(rounds: int) -> None:
    with BenchStack() as stack:
        project, bare = [], []
        messages = [("post_events", key, value) for _, key, value in _events(BACKLOG)]
        for round_ in range(rounds):
            order = ["bare", "project"] if round_ % 2 == 0 else ["project", "bare"]
            for name in order:
                if name == "bare":
                    cpu_start = time.process_time()
                    seconds = _produce(stack, messages)
                    bare.append((BACKLOG / seconds, (time.process_time() - cpu_start) * 1000 / BACKLOG))
                else:
                    seconds, cpu = _project_relay(stack, BACKLOG)
                    project.append((BACKLOG / seconds, cpu * 1000 / BACKLOG))
        report(
            f"relay drain: {BACKLOG:,}-row outbox backlog, PostgreSQL (autovacuum off)",
            _versus("relay_outbox (post_service)", project, "bare producer, same messages", bare, "events/s"),
        )


# -- 3, 4. latency and cost at 100 creates/s ----------------------------------------------------

PIPELINE = ("relay-note", "consume-consumer")


def _note(i: int) -> dict:
    return {"title": f"bench {i}", "content": "Lorem ipsum dolor sit amet, consectetur adipiscing elit."}


def _wait_until_consumed(stack: BenchStack, ids: list[str], sqlite: Path | None, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        rows = _received(stack, ids, sqlite)
        if len(rows) >= len(ids) or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def _received(stack: BenchStack, ids: list[str], sqlite: Path | None) -> dict:
    query = "SELECT subject, received_at FROM activity_event WHERE type = 'note.created'"
    if sqlite is not None:
        import sqlite3
        from datetime import UTC, datetime

        with contextlib.closing(sqlite3.connect(sqlite / "consumer_service.sqlite3")) as conn:
            rows = conn.execute(query).fetchall()
        parsed = {s: datetime.fromisoformat(r).replace(tzinfo=UTC).timestamp() for s, r in rows}
    else:
        parsed = {s: r.timestamp() for s, r in sql(stack.database("consumer"), query)}
    wanted = set(ids)
    return {s: t for s, t in parsed.items() if s in wanted}


def _broker_latency(stack: BenchStack, rate: float, seconds: float, fetch_wait_ms: int) -> dict:
    """The broker's own produce -> consume latency at ``rate``, as a consumer tuned like the
    project's sees it (the floor under the pipeline's figure)."""
    consumer = Consumer({"bootstrap.servers": stack.broker.bootstrap_servers, "group.id": f"bench-{uuid.uuid4()}",
                         "auto.offset.reset": "latest", "enable.auto.commit": False,
                         "session.timeout.ms": 6000, "fetch.wait.max.ms": fetch_wait_ms})  # fmt: skip
    consumer.subscribe(["note_events"])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(0.1)
    sent: dict[str, float] = {}
    received: dict[str, float] = {}
    producer = _producer(stack)

    def send() -> None:
        start = time.monotonic()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            key = str(uuid.uuid4())
            sent[key] = time.time()
            producer.produce("note_events", key=key, value=b"{}")
            producer.poll(0)
        producer.flush(10)

    import threading

    sender = threading.Thread(target=send)
    sender.start()
    end = time.monotonic() + seconds + 5
    while time.monotonic() < end:
        message = consumer.poll(0.5)
        if message is not None and not message.error():
            received[message.key().decode()] = time.time()
    sender.join()
    consumer.close()
    return percentiles([(received[k] - sent[k]) * 1000 for k in sent if k in received])


def latency_and_cost(rate: float, seconds: float) -> None:
    for backend in ("postgresql", "sqlite"):
        sqlite = Path(tempfile.mkdtemp(prefix="bench-sqlite-")) if backend == "sqlite" else None
        fetch_wait = "50" if sqlite else None
        extra = {"KAFKA_FETCH_WAIT_MAX_MS": fetch_wait} if fetch_wait else {}
        with BenchStack(sqlite_dir=sqlite, extra_env=extra) as stack:
            stack.start("web-note")
            for name in PIPELINE:
                stack.start(name)
            stack.wait_http("note")
            token = stack.token()
            paced_posts(stack.url("note"), "/api/notes/", token, rate=rate, seconds=3, body=_note)  # warm up, join
            time.sleep(8)
            groups = {
                "web": lambda: stack.pids("web-note"),
                "relay": lambda: stack.pids("relay-note"),
                "consumer": lambda: stack.pids("consume-consumer"),
                "broker": lambda: [stack.broker.pid],
            }
            if sqlite is None:
                groups["web db"] = lambda: _backends_of(stack, "note", web=True)
                groups["relay db"] = lambda: _backends_of(stack, "note", web=False)
                groups["consumer db"] = lambda: backend_pids(stack.database("consumer"))
            with measured_cpu(groups) as cpu:
                done = paced_posts(stack.url("note"), "/api/notes/", token, rate=rate, seconds=seconds, body=_note)
                consumed = _wait_until_consumed(stack, [i for _, i in done], sqlite)
            latencies = [(consumed[i] - t) * 1000 for t, i in done if i in consumed]
            lost = len(done) - len(consumed)
            fetch = int(stack.env.get("KAFKA_FETCH_WAIT_MAX_MS", "50"))
            floor = _broker_latency(stack, rate, 10, fetch)
            lines = [
                f"HTTP 201 -> consumer_service row committed  {fmt_ms(percentiles(latencies))}  lost {lost}",
                f"baseline: the broker's produce -> consume   {fmt_ms(floor)}  (fetch.wait.max.ms {fetch})",
            ]
            if sqlite is None:
                events = len(done)
                pipeline = sum(cpu[k] for k in ("relay", "relay db", "consumer", "consumer db", "broker"))
                lines += [
                    "CPU per event: " + ", ".join(f"{k} {v * 1000 / events:.2f} ms" for k, v in cpu.items()),
                    f"pipeline (relay, consumer, their PostgreSQL backends, broker): {pipeline * 1000 / events:.2f} "
                    f"ms/event; the web path {(cpu['web'] + cpu['web db']) * 1000 / events:.2f} ms/request",
                ]
                # Idle: no writes for 10 s.
                with measured_cpu({k: groups[k] for k in ("relay", "relay db", "consumer", "consumer db", "broker")}
                                  ) as idle:  # fmt: skip
                    time.sleep(10)
                lines.append("idle 10 s: " + ", ".join(f"{k} {v * 100 / 10:.1f}% of a core" for k, v in idle.items()))
            report(f"latency and cost at {rate:.0f} creates/s for {seconds:.0f} s, {backend}, embedded broker", lines)


def _backends_of(stack: BenchStack, short: str, *, web: bool) -> list[int]:
    """The PostgreSQL backends of the web workers, or of the relay (its two connections):
    a backend's client port is the local port of a socket one of those processes holds."""
    mine = set(stack.pids("web-note" if web else "relay-note"))
    rows = sql(stack.database(short), "SELECT pid, client_port FROM pg_stat_activity WHERE datname = %s",
               [stack.database(short)])  # fmt: skip
    owners = _socket_owners()
    return [pid for pid, port in rows if owners.get(port) in mine]


def _socket_owners() -> dict[int, int]:
    """Local TCP port -> pid of the process holding that socket (from /proc)."""
    port_of_inode = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        port_of_inode[fields[9]] = int(fields[1].split(":")[1], 16)
    owners: dict[int, int] = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError):
                for fd in (proc / "fd").iterdir():
                    match = re.fullmatch(r"socket:\[(\d+)\]", str(fd.readlink()))
                    if match and match.group(1) in port_of_inode:
                        owners[port_of_inode[match.group(1)]] = int(proc.name)
    return owners


# -- 5. create throughput with the pipeline running and paused ------------------------------------


def throughput(rounds: int, secs: int) -> None:
    with BenchStack() as stack:
        stack.start("web-note")
        for name in PIPELINE:
            stack.start(name)
        stack.wait_http("note")
        token = stack.token()
        results: dict[str, list[float]] = {"running": [], "paused": []}
        for round_ in range(rounds):
            for state in ("running", "paused") if round_ % 2 == 0 else ("paused", "running"):
                stack.signal(PIPELINE, signal.SIGSTOP if state == "paused" else signal.SIGCONT)
                results[state].append(_wrk(stack.url("note") + "/api/notes/", token, secs))
            stack.signal(PIPELINE, signal.SIGCONT)
            time.sleep(3)  # let the pipeline catch up before the next round
        running, paused = statistics.median(results["running"]), statistics.median(results["paused"])
        runs = {state: ", ".join(f"{r:.0f}" for r in results[state]) for state in results}
        report(
            f"note create throughput, wrk 16 connections, {secs} s x {rounds}, gunicorn 2 workers",
            [
                f"relays and consumers running  {running:7.0f} req/s  runs {runs['running']}",
                f"relays and consumers paused   {paused:7.0f} req/s  runs {runs['paused']}",
                f"ratio running / paused        {running / paused:7.2f}",
            ],
        )


def _wrk(url: str, token: str, secs: int) -> float:
    script = ROOT.parent / "shared" / "perf" / "post.lua"
    command = ["wrk", "-t1", "-c16", f"-d{secs}s", "-s", str(script), url]
    env = {"TOKEN": token, "PATH": "/usr/bin:/bin"}
    out = subprocess.run(command, capture_output=True, text=True, env=env, timeout=secs + 30).stdout
    return float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))


SECTIONS = {
    "consumer": lambda args: consumer_drain(args.rounds, args.batch),
    "relay": lambda args: relay_drain(args.rounds),
    "latency": lambda args: latency_and_cost(100, args.seconds),
    "throughput": lambda args: throughput(args.rounds * 2, 8),
}


def main(argv: list[str] | None = None) -> int:
    parser = section_parser(__doc__, SECTIONS)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch", type=int, default=500, help="CONSUMER_BATCH_SIZE (default 500)")
    parser.add_argument("--seconds", type=float, default=20)
    return run_sections(parser, SECTIONS, argv, "pipeline benchmarks")


if __name__ == "__main__":
    raise SystemExit(main())
