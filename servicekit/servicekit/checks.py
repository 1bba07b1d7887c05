"""System checks every service runs at startup: ``manage.py`` commands run them by
themselves, and the web server through :func:`servicekit.wsgi.checked_wsgi_application`.

No known key may ever sign or verify a token: the placeholders of ``.env.example`` are
refused in any mode, and with DEBUG off an HMAC key must have at least 32 bytes. That holds
for every key a service accepts, the previous ones of a rotation included.
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
    if is_placeholder(settings.METRICS["TOKEN"]):
        problems.append(
            checks.Error(
                "METRICS_TOKEN is a published placeholder (.env.example): anyone could read /metrics.",
                hint=FIX,
                id="servicekit.E006",
            )
        )
    jwt = settings.SIMPLE_JWT
    if jwt["ALGORITHM"] in HMAC_ALGORITHMS:
        keys = [("JWT_SIGNING_KEY", jwt["SIGNING_KEY"])]
        keys += [("A key of JWT_PREVIOUS_SIGNING_KEYS", key) for key in jwt.get("PREVIOUS_VERIFYING_KEYS", ())]
        for name, key in keys:
            problems += _hmac_key_problems(name, key, jwt["ALGORITHM"])
    elif jwt["SIGNING_KEY"] and not _signs_for(jwt["SIGNING_KEY"], jwt["VERIFYING_KEY"]):
        problems.append(
            checks.Error(
                "JWT_PRIVATE_KEY is not the private key of JWT_PUBLIC_KEY: no service would accept the tokens "
                "this one signs.",
                hint="Give JWT_PUBLIC_KEY the public half of JWT_PRIVATE_KEY (openssl pkey -in private.pem -pubout).",
                id="servicekit.E004",
            )
        )
    return problems


def _hmac_key_problems(name: str, key: str, algorithm: str) -> list[checks.CheckMessage]:
    if is_placeholder(key):
        return [
            checks.Error(
                f"{name} is a published placeholder (.env.example): anyone could sign tokens with it.",
                hint=FIX,
                id="servicekit.E002",
            )
        ]
    if len(key.encode()) < MIN_HMAC_KEY_BYTES:
        message = (
            f"{name} has {len(key.encode())} bytes; {algorithm} needs at least {MIN_HMAC_KEY_BYTES} random "
            "bytes, or the key can be guessed offline from any token."
        )
        if settings.DEBUG:
            return [checks.Warning(message, hint=FIX, id="servicekit.W003")]
        return [checks.Error(message, hint=FIX, id="servicekit.E003")]
    return []


def _signs_for(private_pem: str, public_pem: str) -> bool:
    from cryptography.hazmat.primitives import serialization

    try:
        private = serialization.load_pem_private_key(private_pem.encode(), password=None)
        public = serialization.load_pem_public_key(public_pem.encode())
    except (ValueError, TypeError):
        return False
    return private.public_key().public_numbers() == public.public_numbers()


ADMIN_MIDDLEWARE = (
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # What Django's deployment checks W003 and W002 ask for (silenced: they look in MIDDLEWARE).
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
)


@checks.register(checks.Tags.admin)
def check_admin_middleware(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """The admin's middleware, run for its paths (servicekit.middleware), as Django's own
    admin and deployment checks (silenced: they look in MIDDLEWARE only) would demand."""
    from django.apps import apps

    if not apps.is_installed("django.contrib.admin"):
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
