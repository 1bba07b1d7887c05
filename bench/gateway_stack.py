"""The gateway in front of some services, on fresh PostgreSQL databases, for the gateway
benchmarks (bench/slow_clients.py, bench/gateway_overhead.py); no broker (HTTP only).

Uses TEST_DATABASE_URL's server (databases bench_gw_*, dropped afterwards)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg2
import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from servicekit.devstack.launcher import (  # noqa: E402
    SERVICES,
    gateway_port,
    manage,
    port_of,
    stack_processes,
    wait_ready,
)
from tests.e2e.stack import TEST_DATABASE_URL, drop_database, stack_environment  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str]:
    # Fields after the command name (which may contain spaces): state, ppid, ... utime, stime.
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_tree(pid: int) -> list[int]:
    """``pid`` and its descendants (gunicorn's master and workers)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                children.setdefault(int(_stat(int(entry.name))[1]), []).append(int(entry.name))
            except OSError:
                continue
    tree, pending = [], [pid]
    while pending:
        tree.append(current := pending.pop())
        pending.extend(children.get(current, []))
    return tree


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        try:
            fields = _stat(pid)
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


@dataclass
class BenchStack:
    env: dict[str, str]
    token: str
    prefix: str
    processes: dict[str, subprocess.Popen]

    def pids(self, name: str) -> list[int]:
        """The processes of stack process ``name`` ("gateway", "web-note"), and for a web
        server the PostgreSQL backends serving its database."""
        pids = process_tree(self.processes[name].pid)
        if name.startswith("web-"):
            spec = next(s for s in SERVICES if s.short == name.removeprefix("web-"))
            database = f"{self.prefix}_{spec.directory}"
            with psycopg2.connect(TEST_DATABASE_URL) as admin, admin.cursor() as cursor:
                cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", [database])
                pids += [pid for (pid,) in cursor.fetchall()]
        return pids

    @property
    def gateway(self) -> str:
        return f"http://127.0.0.1:{gateway_port(self.env)}"

    def direct(self, short: str) -> str:
        return f"http://127.0.0.1:{port_of(next(s for s in SERVICES if s.short == short), self.env)}"


@contextmanager
def gateway_stack(shorts: tuple[str, ...]) -> Iterator[BenchStack]:
    """The gateway and the web servers of ``shorts`` (user_service always: it signs the token)."""
    shorts = tuple(dict.fromkeys(("user", *shorts)))
    prefix = f"bench_gw_{uuid.uuid4().hex[:6]}"
    env = {**stack_environment(prefix, kafka_bootstrap="127.0.0.1:9"), "LOG_LEVEL": "WARNING"}
    specs = tuple(s for s in SERVICES if s.short in shorts)
    started: dict[str, subprocess.Popen] = {}
    try:
        for spec in specs:
            manage(spec, env, "migrate", "--no-input", "-v", "0")
        wanted = {"gateway", *(f"web-{short}" for short in shorts)}
        for process in stack_processes(env):
            if process.name in wanted:
                quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
                started[process.name] = subprocess.Popen(process.argv, cwd=process.cwd, env=process.env, **quiet)
        wait_ready(env, timeout=60, specs=specs)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        signup = requests.post(f"http://127.0.0.1:{gateway_port(env)}/api/users/signup/", timeout=10,
                               json={"email": email, "password": "correct-horse-battery-staple"})  # fmt: skip
        signup.raise_for_status()
        yield BenchStack(env=env, token=signup.json()["access"], prefix=prefix, processes=started)
    finally:
        for process in started.values():
            process.send_signal(signal.SIGTERM)
            process.wait(20)
        for spec in SERVICES:
            drop_database(f"{prefix}_{spec.directory}")
