"""System checks every service runs at startup: ``manage.py`` commands run them by
themselves, and the web server through :func:`servicekit.wsgi.checked_wsgi_application`.

No known key may ever sign a token: the placeholders of ``.env.example`` are refused in
any mode, and with DEBUG off an HMAC key must have at least 32 bytes.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from servicekit.jwt import HMAC_ALGORITHMS

#: Every secret in ``.env.example`` is a placeholder containing this marker.
PLACEHOLDER_MARKER = "change-me"
#: RFC 7518 section 3.2: an HS256 key must be at least as long as the hash output.
MIN_HMAC_KEY_BYTES = 32
FIX = (
    "Run `make env` for a .env with fresh secrets, or set a random value, e.g. "
    "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'."
)


def is_placeholder(value: str) -> bool:
    return PLACEHOLDER_MARKER in value.lower()


@checks.register(checks.Tags.security)
def check_secrets(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    problems: list[checks.CheckMessage] = []
    if is_placeholder(settings.SECRET_KEY):
        problems.append(
            checks.Error("SECRET_KEY is a published placeholder (.env.example).", hint=FIX, id="servicekit.E001")
        )
    jwt = settings.SIMPLE_JWT
    if jwt["ALGORITHM"] in HMAC_ALGORITHMS:
        key = jwt["SIGNING_KEY"]
        if is_placeholder(key):
            problems.append(
                checks.Error(
                    "JWT_SIGNING_KEY is a published placeholder (.env.example): anyone could sign tokens with it.",
                    hint=FIX,
                    id="servicekit.E002",
                )
            )
        elif len(key.encode()) < MIN_HMAC_KEY_BYTES:
            message = (
                f"JWT_SIGNING_KEY has {len(key.encode())} bytes; {jwt['ALGORITHM']} needs at least "
                f"{MIN_HMAC_KEY_BYTES} random bytes, or the key can be guessed offline from any token."
            )
            level = checks.Warning if settings.DEBUG else checks.Error
            problems.append(
                level(message, hint=FIX, id="servicekit.E003" if level is checks.Error else "servicekit.W003")
            )
    return problems


ADMIN_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
)


@checks.register(checks.Tags.admin)
def check_admin_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The admin's middleware, run for its paths (servicekit.middleware), as Django's own
    admin checks (silenced: they look in MIDDLEWARE only) would demand."""
    if "django.contrib.admin" not in settings.INSTALLED_APPS:
        return []
    missing = [path for path in ADMIN_MIDDLEWARE if path not in settings.BROWSER_MIDDLEWARE]
    if "/admin/" not in settings.BROWSER_PATHS:
        missing.append("'/admin/' in BROWSER_PATHS")
    return [
        checks.Error(f"The admin needs {item} (BROWSER_MIDDLEWARE, BROWSER_PATHS).", id="servicekit.E010")
        for item in missing
    ]


@checks.register(checks.Tags.models)
def check_no_stray_models(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """A model of a servicekit app (``servicekit.inbox``...) imported by a service that does
    not install that app lands in the ``servicekit`` app itself: a table nobody creates.
    The runtime keeps such imports where the app is installed."""
    from django.apps import apps

    return [
        checks.Error(
            f"{model.__module__}.{model.__name__} is imported, but its app is not in INSTALLED_APPS.",
            hint="Import it only in code of services that install its app.",
            id="servicekit.E011",
        )
        for model in apps.get_app_config("servicekit").get_models()
    ]
