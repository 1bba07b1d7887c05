"""The service under test: its schema, its database URL, its management commands as processes."""

from __future__ import annotations

from typing import Any

from django.conf import settings


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


def manage_py(*args: str, env: dict[str, str] | None = None, **popen: Any) -> Any:
    """Starts ``python manage.py *args`` of this service against the test database and broker."""
    import os
    import subprocess
    import sys

    child_env = {**os.environ, "DATABASE_URL": database_url(), "LOG_LEVEL": "INFO",
                 "KAFKA_BOOTSTRAP_SERVERS": settings.KAFKA["BOOTSTRAP_SERVERS"],
                 "KAFKA_SESSION_TIMEOUT_MS": str(settings.KAFKA["SESSION_TIMEOUT_MS"]),
                 "KAFKA_FETCH_WAIT_MAX_MS": str(settings.KAFKA["FETCH_WAIT_MAX_MS"]), **(env or {})}  # fmt: skip
    return subprocess.Popen([sys.executable, "manage.py", *args], env=child_env, cwd=settings.BASE_DIR, **popen)  # noqa: S603
