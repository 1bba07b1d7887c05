"""The service under test: its schema, its database URL, its management commands as processes."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from django.conf import settings

#: ``settings.KAFKA`` keys a child process needs from the test, by the variable
#: servicekit.settings reads each from: the test's broker and the client tuning for it.
KAFKA_ENVIRONMENT = {
    "KAFKA_BOOTSTRAP_SERVERS": "BOOTSTRAP_SERVERS",
    "KAFKA_SESSION_TIMEOUT_MS": "SESSION_TIMEOUT_MS",
    "KAFKA_FETCH_WAIT_MAX_MS": "FETCH_WAIT_MAX_MS",
    "KAFKA_DELIVERY_TIMEOUT_MS": "DELIVERY_TIMEOUT_MS",
    "KAFKA_ENABLE_IDEMPOTENCE": "IDEMPOTENCE",
}


def assert_openapi_schema_valid() -> None:
    """The service's OpenAPI schema passes drf-spectacular's validation, warnings included."""
    from io import StringIO

    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", stdout=StringIO())


def database_url() -> str:
    """A URL for the database the tests use (the test database), for subprocesses."""
    from django.db import connection

    params = connection.settings_dict
    auth = params["USER"] + (f":{params['PASSWORD']}" if params["PASSWORD"] else "")
    return f"postgres://{auth}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{params['NAME']}"


def manage_py(*args: str, env: dict[str, str] | None = None, **popen: Any) -> subprocess.Popen:
    """Starts ``python manage.py *args`` of this service with the test's database and Kafka
    settings (those of the ``kafka`` fixture, when the test uses it); ``env`` adds to them."""
    kafka = {variable: str(settings.KAFKA[key]) for variable, key in KAFKA_ENVIRONMENT.items()}
    child_env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO", **kafka, **(env or {})}
    return subprocess.Popen([sys.executable, "manage.py", *args], env=child_env, cwd=settings.BASE_DIR, **popen)  # noqa: S603


@contextlib.contextmanager
def gunicorn_serving(
    app: str = "config.wsgi:application", *, env: dict[str, str] | None = None, log: Any = None
) -> Iterator[tuple[str, int]]:
    """This service's ``app`` under gunicorn with the configuration every service runs
    (one worker, the test's database and Kafka settings, plus ``env``), on a socket it
    inherits (no port race); gives the address once it answers HTTP. Output goes to ``log``."""
    listener = socket.create_server(("127.0.0.1", 0))
    kafka = {variable: str(settings.KAFKA[key]) for variable, key in KAFKA_ENVIRONMENT.items()}
    child_env = {**os.environ, "DATABASE_URL": database_url(), **kafka, "WEB_CONCURRENCY": "1", **(env or {})}
    command = [sys.executable, "-m", "gunicorn", app, "--config", "python:servicekit.gunicorn_conf",
               f"--bind=fd://{listener.fileno()}"]  # fmt: skip
    process = subprocess.Popen(command, cwd=settings.BASE_DIR, env=child_env, pass_fds=[listener.fileno()],  # noqa: S603
                               stdout=log or subprocess.DEVNULL, stderr=subprocess.STDOUT)  # fmt: skip
    address = listener.getsockname()
    listener.close()
    try:
        deadline = time.monotonic() + 60
        while True:  # the socket listens already: a request waits in its backlog for the worker
            try:
                with socket.create_connection(address, timeout=5) as probe:
                    probe.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    if probe.recv(9).startswith(b"HTTP/1.1 "):  # an answer, whatever the app says
                        break
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
            time.sleep(0.1)
        yield address
    finally:
        process.terminate()
        process.wait(20)
