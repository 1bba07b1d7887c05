"""What the benchmarks share: the stack's processes on PostgreSQL, CPU accounting, load, figures.

Nothing here asserts anything: benchmarks report, tests prove. Every figure is printed
beside a baseline measured in the same run, with the machine's load.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import secrets
import signal
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import jwt
import psycopg2

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.devstack.embedded_broker import EmbeddedBroker  # noqa: E402
from servicekit.devstack.launcher import SERVICES, service_env, stack_processes  # noqa: E402
from tests.e2e.stack import TEST_DATABASE_URL, database_url, drop_database, free_port, recreate_database  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def load() -> str:
    """The machine's load averages, as ``uptime`` prints them."""
    one, five, fifteen = os.getloadavg()
    return f"load {one:.2f} {five:.2f} {fifteen:.2f} ({os.cpu_count()} cores)"


def percentiles(values_ms: list[float]) -> dict[str, float]:
    values = sorted(values_ms)
    if len(values) < 2:
        return {"p50": values[0] if values else float("nan"), "p99": values[-1] if values else float("nan"), "n": 0}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98], "max": values[-1], "n": len(values)}


def fmt_ms(p: dict[str, float]) -> str:
    return f"p50 {p['p50']:.1f} ms  p99 {p['p99']:.1f} ms  (n={p['n']})"


def report(title: str, lines: Iterable[str]) -> None:
    print(f"\n== {title}   [{load()}]", flush=True)
    for line in lines:
        print(f"   {line}", flush=True)


def section_parser(doc: str, sections: dict[str, Callable[[argparse.Namespace], None]]) -> argparse.ArgumentParser:
    """The command line of a benchmark made of sections (``python -m bench.pipeline relay``)."""
    parser = argparse.ArgumentParser(description=doc.split("\n")[0])
    parser.add_argument("sections", nargs="*", metavar="SECTION", help=f"some of: {', '.join(sections)} (default: all)")
    return parser


def run_sections(parser: argparse.ArgumentParser, sections: dict[str, Callable[[argparse.Namespace], None]],
                 argv: list[str] | None, title: str) -> int:  # fmt: skip
    """Runs the sections the command line names (every one by default), in order."""
    args = parser.parse_args(argv)
    unknown = set(args.sections) - set(sections)
    if unknown:
        parser.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(sections)}")
    print(f"{title}, {load()}", flush=True)
    for name in args.sections or sections:
        sections[name](args)
    return 0


# -- processes and CPU ------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def tree(pid: int) -> list[int]:
    """``pid`` and every descendant (a gunicorn master and its workers)."""
    pids, todo = [], [pid]
    while todo:
        current = todo.pop()
        pids.append(current)
        todo += children(current)
    return pids


def cpu_seconds(pids: Iterable[int]) -> float:
    """utime + stime of these processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def rss_pss_kb(pid: int) -> tuple[int, int]:
    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
    values = {line.split(":")[0]: int(line.split()[1]) for line in rollup.splitlines()[1:] if ":" in line}
    return values.get("Rss", 0), values.get("Pss", 0)


def backend_pids(database: str) -> list[int]:
    """PostgreSQL backends serving ``database`` (on this machine: their CPU is readable)."""
    with contextlib.closing(psycopg2.connect(TEST_DATABASE_URL)) as admin, admin.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
        return [row[0] for row in cursor.fetchall()]


# -- the stack --------------------------------------------------------------------------------


@dataclass
class BenchStack:
    """Chosen processes of the stack (the same commands as ``make run``) on fresh PostgreSQL
    databases ``bench_<run>_<service>`` (a run's own, so that two benchmarks at once do not
    drop each other's) and an embedded broker, DEBUG off."""

    extra_env: dict[str, str] = field(default_factory=dict)
    sqlite_dir: Path | None = None
    broker: EmbeddedBroker | None = None
    env: dict[str, str] = field(default_factory=dict)
    running: dict[str, subprocess.Popen] = field(default_factory=dict)
    log_dir: Path = ROOT / "var" / "bench"
    prefix: str = field(default_factory=lambda: f"bench_{uuid.uuid4().hex[:6]}")

    def __enter__(self) -> BenchStack:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.broker = EmbeddedBroker(log_path=self.log_dir / "broker.log").start()
        self.env = {
            **os.environ,
            "DEBUG": "False",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
            "LOG_LEVEL": "WARNING",
            "KAFKA_BOOTSTRAP_SERVERS": self.broker.bootstrap_servers,
            "KAFKA_SESSION_TIMEOUT_MS": "6000",
            "KAFKA_ENABLE_IDEMPOTENCE": "False",
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        self.env.pop("DATABASE_URL", None)
        for spec in SERVICES:
            self.env[spec.port_variable] = str(free_port())
            if self.sqlite_dir is not None:
                url = f"sqlite:///{self.sqlite_dir / (spec.directory + '.sqlite3')}"
            else:
                url = recreate_database(f"{self.prefix}_{spec.directory}")
            self.env[spec.database_url_variable] = url
        from servicekit.devstack.launcher import prepare

        prepare(self.env)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.running):
            self.stop(name)
        if self.broker is not None:
            self.broker.stop()
        if self.sqlite_dir is None:
            for spec in SERVICES:
                drop_database(f"{self.prefix}_{spec.directory}")

    def url(self, short: str) -> str:
        spec = next(s for s in SERVICES if s.short == short)
        return f"http://127.0.0.1:{self.env[spec.port_variable]}"

    def database(self, short: str) -> str:
        return f"{self.prefix}_{next(s for s in SERVICES if s.short == short).directory}"

    def start(self, name: str, **env: str) -> subprocess.Popen:
        """A process of the stack's table (``web-note``, ``worker-post``), or one loop of a
        service alone: ``relay-<short>`` (relay_outbox), ``consume-<short>`` (consume_events)."""
        role, _, short = name.partition("-")
        if role in ("relay", "consume"):
            spec = next(s for s in SERVICES if s.short == short)
            command = "relay_outbox" if role == "relay" else "consume_events"
            argv, cwd = [sys.executable, "manage.py", command], ROOT / spec.directory
            child_env = service_env(spec, self.env)
        else:
            process = next(p for p in stack_processes(self.env) if p.name == name)
            argv, cwd, child_env = process.argv, process.cwd, process.env
        log = (self.log_dir / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(argv, cwd=cwd, env={**child_env, **env}, stdout=log,
                                              stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        return self.running[name]

    def stop(self, name: str) -> None:
        proc = self.running.pop(name)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGCONT)
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()

    def signal(self, names: Iterable[str], sig: int) -> None:
        for name in names:
            os.killpg(self.running[name].pid, sig)

    def pids(self, name: str) -> list[int]:
        return tree(self.running[name].pid)

    def wait_http(self, short: str, timeout: float = 60) -> None:
        wait_ready(self.url(short), timeout)

    def token(self, user_id: uuid.UUID | None = None) -> str:
        """An access token as user_service issues them (signed with the stack's key)."""
        now = int(time.time())
        claims = {"token_type": "access", "exp": now + 3600, "iat": now, "jti": uuid.uuid4().hex,
                  "user_id": str(user_id or uuid.uuid4()), "email": "bench@example.com", "is_staff": False,
                  "iss": "user_service", "aud": "microservices"}  # fmt: skip
        return jwt.encode(claims, self.env["JWT_SIGNING_KEY"], algorithm="HS256")


def wait_ready(url: str, timeout: float = 60) -> None:
    """Until ``url``'s ``/readyz`` answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError):
            if http_get(url, "/readyz") == 200:
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} not ready")
        time.sleep(0.1)


def http_get(base: str, path: str) -> int:
    host, port = base.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status
    finally:
        conn.close()


def paced_posts(base: str, path: str, token: str, *, rate: float, seconds: float,
                body: Callable[[int], dict]) -> list[tuple[float, str]]:  # fmt: skip
    """POSTs at ``rate`` per second for ``seconds`` from one keep-alive connection per
    in-flight request slot; returns (time the 201 arrived, id) for each."""
    host, port = base.removeprefix("http://").split(":")
    results: list[tuple[float, str]] = []
    lock = threading.Lock()
    count = int(rate * seconds)
    started = time.monotonic()

    def worker(offset: int, stride: int) -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=10)
        for i in range(offset, count, stride):
            due = started + i / rate
            delay = due - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            conn.request("POST", path, json.dumps(body(i)),
                         {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})  # fmt: skip
            response = conn.getresponse()
            data = response.read()
            done = time.time()
            if response.status == 201:
                with lock:
                    results.append((done, json.loads(data)["id"]))
        conn.close()

    threads = [threading.Thread(target=worker, args=(k, 4)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@contextlib.contextmanager
def measured_cpu(groups: dict[str, Callable[[], list[int]]]) -> Iterator[dict[str, float]]:
    """CPU seconds spent by each group of processes inside the block (pids looked up at the
    start: processes started inside are not counted)."""
    pids = {name: find() for name, find in groups.items()}
    before = {name: cpu_seconds(p) for name, p in pids.items()}
    spent: dict[str, float] = {}
    yield spent
    for name, p in pids.items():
        spent[name] = cpu_seconds(p) - before[name]


def sql(database: str, query: str, params: list | None = None) -> list[tuple]:
    with contextlib.closing(psycopg2.connect(database_url(database))) as conn, conn.cursor() as cursor:
        cursor.execute(query, params or [])
        rows = cursor.fetchall() if cursor.description else []
        conn.commit()
        return rows
