"""How a service starts: ``manage.py`` and the WSGI application.

Both load the settings first and answer a missing or invalid setting (a secret not set,
an unknown JWT algorithm) with one line and exit status 2, not a traceback. ``manage.py``
commands then run Django's system checks by themselves; gunicorn does not, so
:func:`wsgi_application` runs the same checks and refuses to start on a serious one (a
published or weak signing key, see :mod:`servicekit.checks`).
"""

from __future__ import annotations

import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.handlers.wsgi import WSGIHandler


def _load_settings() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from django.conf import settings

    try:
        settings.INSTALLED_APPS  # noqa: B018 - imports the settings module
    except ImproperlyConfigured as exc:
        print(f"{os.path.basename(os.getcwd()) or 'service'}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None


def manage(argv: list[str] | None = None) -> None:
    from django.core.management import execute_from_command_line

    _load_settings()
    execute_from_command_line(argv or sys.argv)


def wsgi_application() -> WSGIHandler:
    from django.core import checks
    from django.core.wsgi import get_wsgi_application

    _load_settings()
    from servicekit.telemetry import start_web_telemetry

    start_web_telemetry()  # before the handler loads the middleware: tracing adds its own
    application = get_wsgi_application()
    serious = [issue for issue in checks.run_checks() if issue.is_serious() and not issue.is_silenced()]
    if serious:
        lines = "\n".join(f"  {issue}" for issue in serious)
        print(f"Not starting: the system checks found {len(serious)} problem(s):\n{lines}", file=sys.stderr, flush=True)
        # 3 is gunicorn's "worker failed to boot": without preload the master then stops
        # instead of starting the worker again and again.
        raise SystemExit(3)
    return application
