"""The service under test: its schema, its database URL, its management commands as processes."""

from __future__ import annotations

import os
import subprocess
import sys
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
