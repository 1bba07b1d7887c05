"""Runs the stack as ``make run`` does (same process table), on PostgreSQL and free ports."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import psycopg2
from psycopg2 import sql

from servicekit.devstack.embedded_broker import EmbeddedBroker
from servicekit.devstack.launcher import (
    SERVICES,
    StackProcess,
    gateway_port,
    port_of,
    prepare,
    stack_processes,
    wait_ready,
)

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
JWT_KEY = secrets.token_urlsafe(48)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(name: str) -> str:
    return urlunparse(urlparse(TEST_DATABASE_URL)._replace(path=f"/{name}"))


def recreate_database(name: str) -> str:
    admin = psycopg2.connect(TEST_DATABASE_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    admin.close()
    return database_url(name)


def drop_database(name: str) -> None:
    admin = psycopg2.connect(TEST_DATABASE_URL)
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
    admin.close()


def stack_environment(prefix: str, kafka_bootstrap: str) -> dict[str, str]:
    """A production-like environment (DEBUG off, explicit secrets) on fresh databases."""
    env = {
        **os.environ,
        "DEBUG": "False",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SIGNING_KEY": JWT_KEY,
        "JWT_ALGORITHM": "HS256",
        "LOG_FORMAT": "text",
        "LOG_LEVEL": "INFO",
        "WEB_CONCURRENCY": "2",
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "KAFKA_SESSION_TIMEOUT_MS": "6000",
        "KAFKA_FETCH_WAIT_MAX_MS": "20",
        "KAFKA_DELIVERY_TIMEOUT_MS": "3000",
        "KAFKA_ENABLE_IDEMPOTENCE": "False",  # the embedded broker forgets producer ids on restart
        "SIGNUP_MAX_PER_ADDRESS": "1000",  # every user of the suite signs up from 127.0.0.1
        "RESET_LINK_MAX_PER_ADDRESS": "1000",
        # Emails in web-user's log, as `make run` prints them (the README's tour reads one there).
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DATABASE_URL", None)
    env["GATEWAY_PORT"] = str(free_port())
    for spec in SERVICES:
        env[spec.port_variable] = str(free_port())
        env[spec.database_url_variable] = recreate_database(f"{prefix}_{spec.directory}")
    return env


@dataclass
class Stack:
    """The running stack: URLs, the broker, and each process (stoppable one by one)."""

    env: dict[str, str]
    broker: EmbeddedBroker
    log_dir: Path
    processes: dict[str, StackProcess] = field(default_factory=dict)
    running: dict[str, subprocess.Popen] = field(default_factory=dict)

    def url(self, short: str) -> str:
        """A service's own address (direct, not through the gateway)."""
        spec = next(s for s in SERVICES if s.short == short)
        return f"http://127.0.0.1:{port_of(spec, self.env)}"

    @property
    def gateway(self) -> str:
        """The stack's one entry point, as clients use it."""
        return f"http://127.0.0.1:{gateway_port(self.env)}"

    def start(self, name: str) -> None:
        process = self.processes[name]
        log = (self.log_dir / f"{name}.log").open("ab")
        self.running[name] = subprocess.Popen(
            process.argv, cwd=process.cwd, env=process.env, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout: float = 20) -> int:
        proc = self.running.pop(name)
        os.killpg(proc.pid, sig)
        return proc.wait(timeout)

    def log(self, name: str) -> str:
        return (self.log_dir / f"{name}.log").read_text(errors="replace")

    def up(self) -> float:
        prepare(self.env)
        for process in stack_processes(self.env):
            self.processes[process.name] = process
            self.start(process.name)
        return wait_ready(self.env, timeout=120)

    def down(self) -> dict[str, int]:
        return {name: self.stop(name) for name in list(self.running)}


def new_prefix() -> str:
    return f"e2e_{uuid.uuid4().hex[:6]}"
