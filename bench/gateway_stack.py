"""The gateway in front of some services, on fresh PostgreSQL databases, for the gateway
benchmarks (bench/slow_clients.py, bench/gateway_overhead.py); no broker (HTTP only).

Uses TEST_DATABASE_URL's server (databases bench_gw_*, dropped afterwards)."""

from __future__ import annotations

import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
from tests.e2e.stack import drop_database, stack_environment  # noqa: E402


@dataclass
class BenchStack:
    env: dict[str, str]
    token: str

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
    started = []
    try:
        for spec in specs:
            manage(spec, env, "migrate", "--no-input", "-v", "0")
        wanted = {"gateway", *(f"web-{short}" for short in shorts)}
        for process in stack_processes(env):
            if process.name in wanted:
                started.append(subprocess.Popen(process.argv, cwd=process.cwd, env=process.env,  # noqa: S603
                                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))  # fmt: skip
        wait_ready(env, timeout=60, specs=specs)
        email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
        signup = requests.post(f"http://127.0.0.1:{gateway_port(env)}/api/users/signup/", timeout=10,
                               json={"email": email, "password": "correct-horse-battery-staple"})  # fmt: skip
        signup.raise_for_status()
        yield BenchStack(env=env, token=signup.json()["access"])
    finally:
        for process in started:
            process.send_signal(signal.SIGTERM)
            process.wait(20)
        for spec in SERVICES:
            drop_database(f"{prefix}_{spec.directory}")
