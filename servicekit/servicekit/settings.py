"""Settings every service shares, read from the environment in one place.

A service's ``config/settings.py`` calls :func:`build_settings` and adds only what is
its own (apps, the user model, extra middleware)::

    globals().update(build_settings(service="post_service", base_dir=BASE_DIR,
                                    apps=["posts"], jwt_role=JWTRole.VERIFIER))

Values come from environment variables, then a ``.env`` file found by walking up
from the working directory, then the defaults below. Secrets have no default at all:
``make run`` generates random ones per checkout, ``make env`` writes a ``.env`` with fresh
ones, and the placeholders of ``.env.example`` are refused (``servicekit.checks``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import dj_database_url
from decouple import AutoConfig, Csv
from django.core.exceptions import ImproperlyConfigured

from servicekit.jwt import JWTRole, simple_jwt_settings

env = AutoConfig(search_path=os.getcwd())


def required(name: str) -> str:
    """A setting without a default (a secret). Raises ImproperlyConfigured, saying where
    one comes from, when it is unset."""
    value = env(name, default="")
    if not value:
        raise ImproperlyConfigured(
            f"{name} is not set. `make run` generates development secrets by itself; otherwise set it "
            "in the environment or in .env (`make env` writes one with fresh secrets)."
        )
    return value


def database_settings(*, service: str, base_dir: Path) -> dict[str, Any]:
    """``DATABASES['default']`` from ``DATABASE_URL`` (default: a SQLite file per service).

    Connections persist (``CONN_MAX_AGE``) with health checks, so a restarted database
    costs one failed request at most. SQLite gets WAL and a busy timeout so that web
    workers, relays and consumers can share a file without "database is locked".
    """
    url = env("DATABASE_URL", default=f"sqlite:///{base_dir / (service + '.sqlite3')}")
    db = dj_database_url.parse(
        url,
        conn_max_age=env("DB_CONN_MAX_AGE", default=60, cast=int),
        # A health check is a round trip at the start of every request. Without it a
        # connection the database dropped fails one request per worker (a 503 that says
        # so, servicekit.http) and is replaced at once.
        conn_health_checks=env("DB_CONN_HEALTH_CHECKS", default=False, cast=bool),
    )
    if db["ENGINE"] == "django.db.backends.sqlite3":
        db["CONN_MAX_AGE"] = 0
        db["OPTIONS"] = {
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        db.setdefault("OPTIONS", {})["connect_timeout"] = env("DB_CONNECT_TIMEOUT", default=5, cast=int)
    # Each service's test database is its own, so suites may run side by side (and, with a
    # suffix per checkout, the suites of two checkouts on one server).
    db["TEST"] = {"NAME": f"test_{service}{env('TEST_DATABASE_SUFFIX', default='')}"}
    return db


def logging_settings(*, service: str) -> dict[str, Any]:
    fmt = env("LOG_FORMAT", default="text")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "text": {"()": "servicekit.logs.TextFormatter", "service": service},
            "json": {"()": "servicekit.logs.JSONFormatter", "service": service},
        },
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": fmt}},
        "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
        "loggers": {
            # Request lines come from servicekit.http; Django's own would repeat them.
            "django.server": {"level": "WARNING"},
            "django.request": {"level": "ERROR"},
        },
    }


def build_settings(
    *,
    service: str,
    base_dir: Path,
    apps: list[str],
    jwt_role: JWTRole,
    title: str,
    admin: bool = False,
) -> dict[str, Any]:
    """The full settings dict for one service; the caller adds what is its own.

    ``admin``: whether ``/admin/`` is served unless ``ADMIN_ENABLED`` says otherwise.
    """
    debug = env("DEBUG", default=False, cast=bool)
    metrics = metrics_settings()
    max_body = env("MAX_REQUEST_BODY_BYTES", default=2_621_440, cast=int)
    return {
        "SERVICE_NAME": service,
        "BASE_DIR": base_dir,
        "DEBUG": debug,
        "SECRET_KEY": required("SECRET_KEY"),
        "ALLOWED_HOSTS": env("ALLOWED_HOSTS", default="localhost,127.0.0.1,[::1]", cast=Csv()),
        "CSRF_TRUSTED_ORIGINS": env("CSRF_TRUSTED_ORIGINS", default="", cast=Csv()),
        "CORS_ALLOWED_ORIGINS": env("CORS_ALLOWED_ORIGINS", default="", cast=Csv()),
        "CORS_ALLOW_CREDENTIALS": False,
        "ADMIN_ENABLED": env("ADMIN_ENABLED", default=admin, cast=bool),
        "INSTALLED_APPS": [
            # django.contrib.admin, its login throttled (servicekit.admin).
            "servicekit.admin_app.ThrottledAdminConfig",
            "django.contrib.auth",
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.staticfiles",
            "corsheaders",
            "rest_framework",
            "drf_spectacular",
            "drf_spectacular_sidecar",
            "servicekit",
            "servicekit.throttling",
            "servicekit.revocation",
            *apps,
        ],
        "MIDDLEWARE": [
            # First: it times and counts everything below, and answers /metrics itself.
            *(["servicekit.metrics.MetricsMiddleware"] if metrics["ENABLED"] else []),
            "servicekit.proxies.ClientAddressMiddleware",
            "servicekit.http.RequestLogMiddleware",
            "servicekit.cache_control.NoStoreMiddleware",
            "servicekit.http.JSONErrorMiddleware",
            "servicekit.http.BodySizeLimitMiddleware",
            "django.middleware.security.SecurityMiddleware",
            "corsheaders.middleware.CorsMiddleware",
            "django.middleware.common.CommonMiddleware",
            # The rest only for the pages a browser uses (BROWSER_PATHS): API calls skip it.
            "servicekit.middleware.BrowserPathsMiddleware",
        ],
        "BROWSER_PATHS": ["/admin/", "/static/", "/api/docs/"],
        # Django's admin checks, and the deployment checks of CSRF and clickjacking protection,
        # look for their middleware in MIDDLEWARE only: servicekit.checks checks
        # BROWSER_MIDDLEWARE instead (the pages with cookies and forms are there).
        "SILENCED_SYSTEM_CHECKS": ["admin.E408", "admin.E409", "admin.E410", "security.W002", "security.W003"],
        "BROWSER_MIDDLEWARE": [
            # Serves the admin's and the API docs' static files under gunicorn.
            "whitenoise.middleware.WhiteNoiseMiddleware",
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
            "django.middleware.clickjacking.XFrameOptionsMiddleware",
        ],
        "ROOT_URLCONF": "config.urls",
        # An API answers a missing slash with 404, not a redirect that drops a POST body
        # (or, with DEBUG, a 500).
        "APPEND_SLASH": False,
        "WSGI_APPLICATION": "config.wsgi.application",
        "TEMPLATES": [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ],
        "DATABASES": {"default": database_settings(service=service, base_dir=base_dir)},
        "DEFAULT_AUTO_FIELD": "django.db.models.BigAutoField",
        "LANGUAGE_CODE": "en-us",
        "TIME_ZONE": "UTC",
        "USE_I18N": True,
        "USE_TZ": True,
        "STATIC_URL": "static/",
        # Where `collectstatic` puts files (the images set it); without it, WhiteNoise serves
        # them straight from the apps, which is what `make run` does.
        "STATIC_ROOT": env("STATIC_ROOT", default="") or None,
        "WHITENOISE_USE_FINDERS": True,
        "DATA_UPLOAD_MAX_MEMORY_SIZE": max_body,
        # Peers whose X-Forwarded-For is believed (the gateway): addresses or CIDRs, comma-separated.
        "TRUSTED_PROXIES": env("TRUSTED_PROXIES", default="", cast=Csv()),
        **security_settings(debug=debug),
        "REST_FRAMEWORK": {
            "DEFAULT_AUTHENTICATION_CLASSES": [jwt_role.authentication_class],
            "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
            "DEFAULT_PARSER_CLASSES": ["servicekit.parsers.JSONParser"],
            "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
            "DEFAULT_PAGINATION_CLASS": "servicekit.pagination.Pagination",
            "DEFAULT_FILTER_BACKENDS": [
                "servicekit.filters.SearchFilter",
                "servicekit.filters.OrderingFilter",
            ],
            "DEFAULT_SCHEMA_CLASS": "servicekit.openapi.AutoSchema",
            "EXCEPTION_HANDLER": "servicekit.http.exception_handler",
            # Throttles take the client's address from REMOTE_ADDR, which
            # servicekit.proxies sets from X-Forwarded-For only for TRUSTED_PROXIES; DRF's
            # own NUM_PROXIES would believe the header from any peer.
            "NUM_PROXIES": 0,
            "PAGE_SIZE": env("PAGE_SIZE", default=20, cast=int),
        },
        "SIMPLE_JWT": simple_jwt_settings(role=jwt_role, env=env),
        "SPECTACULAR_SETTINGS": {
            "TITLE": title,
            "VERSION": "1.0.0",
            "SERVE_INCLUDE_SCHEMA": False,
            "SWAGGER_UI_DIST": "SIDECAR",
            "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
            "REDOC_DIST": "SIDECAR",
            "COMPONENT_SPLIT_REQUEST": True,
            "POSTPROCESSING_HOOKS": [
                "drf_spectacular.hooks.postprocess_schema_enums",
                "servicekit.openapi.add_error_responses",
            ],
        },
        **login_throttle_settings(),
        "REVOCATION": {
            # How often each process reads the revocations committed since its last read
            # (servicekit.revocation): a revoked token is refused within about this long.
            "REFRESH_SECONDS": env("REVOCATION_REFRESH_SECONDS", default=1.0, cast=float),
        },
        "MAX_PAGE_SIZE": env("MAX_PAGE_SIZE", default=100, cast=int),
        "MAX_TEXT_BYTES": env("MAX_TEXT_BYTES", default=102_400, cast=int),
        "LOGGING": logging_settings(service=service),
        "METRICS": metrics,
        "TRACING": tracing_settings(),
        "KAFKA": kafka_settings(service=service),
        # What the service publishes and consumes; each service sets its own (config/settings.py).
        "EVENTS": {"PUBLISHES": [], "HANDLERS": None},
        "OUTBOX": {
            # On PostgreSQL idle relays wait on LISTEN (a NOTIFY at every commit that wrote
            # outbox rows) and look again this often in case one was missed.
            "IDLE_WAIT_SECONDS": env("OUTBOX_IDLE_WAIT_SECONDS", default=5.0, cast=float),
            # On SQLite (no NOTIFY) relays poll this often.
            "POLL_INTERVAL_SECONDS": env("OUTBOX_POLL_INTERVAL_SECONDS", default=0.05, cast=float),
            # Woken by a commit, a relay waits this long for the commits that come with it.
            "GATHER_MS": env("OUTBOX_GATHER_MS", default=2.0, cast=float),
            "BATCH_SIZE": env("OUTBOX_BATCH_SIZE", default=200, cast=int),
            "RETENTION_HOURS": env("OUTBOX_RETENTION_HOURS", default=72, cast=float),
        },
    }


def security_settings(*, debug: bool) -> dict[str, Any]:
    """HTTPS and cookies. Production sets the ``SECURE_*`` variables (``.env.example``, section
    "Production"): ``manage.py check --deploy`` then has nothing to report."""
    return {
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "X_FRAME_OPTIONS": "DENY",
        # Behind a proxy that terminates TLS and says so in X-Forwarded-Proto (and removes any
        # a client sent): only then is that header believed.
        "SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https")
        if env("TRUST_X_FORWARDED_PROTO", default=False, cast=bool)
        else None,
        "SECURE_SSL_REDIRECT": env("SECURE_SSL_REDIRECT", default=False, cast=bool),
        # The probes call each service over plain HTTP from inside its container.
        "SECURE_REDIRECT_EXEMPT": [r"^healthz$", r"^readyz$"],
        "SECURE_HSTS_SECONDS": env("SECURE_HSTS_SECONDS", default=0, cast=int),
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": env("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False, cast=bool),
        "SECURE_HSTS_PRELOAD": env("SECURE_HSTS_PRELOAD", default=False, cast=bool),
        # The admin's cookies travel over HTTPS only, unless in development.
        "SESSION_COOKIE_SECURE": env("SESSION_COOKIE_SECURE", default=not debug, cast=bool),
        "CSRF_COOKIE_SECURE": env("CSRF_COOKIE_SECURE", default=not debug, cast=bool),
    }


def login_throttle_settings() -> dict[str, Any]:
    """Failed password checks allowed (the API's login and every admin's, see
    ``servicekit.throttling.logins``); counted in the database, across every worker."""
    return {
        "LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS": env(
            "LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS", default=5, cast=int
        ),
        "LOGIN_FAILURE_WINDOW_SECONDS": env("LOGIN_FAILURE_WINDOW_SECONDS", default=300, cast=int),
        "LOGIN_MAX_FAILURES_PER_EMAIL": env("LOGIN_MAX_FAILURES_PER_EMAIL", default=50, cast=int),
        "LOGIN_EMAIL_FAILURE_WINDOW_SECONDS": env("LOGIN_EMAIL_FAILURE_WINDOW_SECONDS", default=3600, cast=int),
        "LOGIN_MAX_FAILURES_PER_ADDRESS": env("LOGIN_MAX_FAILURES_PER_ADDRESS", default=100, cast=int),
    }


def metrics_settings() -> dict[str, Any]:
    """Prometheus metrics (servicekit.metrics): ``/metrics`` of the web server, and the port a
    worker process serves its own on."""
    return {
        "ENABLED": env("METRICS_ENABLED", default=True, cast=bool),
        # When set, /metrics answers only `Authorization: Bearer <token>` (401 without, 403 wrong).
        "TOKEN": env("METRICS_TOKEN", default=""),
        # A worker's (run_workers, relay_outbox, consume_events) metrics endpoint; 0: none.
        "PORT": env("METRICS_PORT", default=0, cast=lambda v: int(v or 0)),
        "ADDRESS": env("METRICS_ADDRESS", default="127.0.0.1"),
        # How long a figure that costs a query (outbox backlog, consumer lag) is reused.
        "REFRESH_SECONDS": env("METRICS_REFRESH_SECONDS", default=5.0, cast=float),
    }


def tracing_settings() -> dict[str, Any]:
    """OpenTelemetry traces (servicekit.tracing), exported over OTLP/HTTP when an endpoint is set."""
    return {"OTLP_ENDPOINT": env("OTEL_EXPORTER_OTLP_ENDPOINT", default="")}


def kafka_settings(*, service: str) -> dict[str, Any]:
    """Broker address and client tuning; see servicekit.kafka for how they are used."""
    return {
        "BOOTSTRAP_SERVERS": env("KAFKA_BOOTSTRAP_SERVERS", default="127.0.0.1:9092"),
        "CLIENT_ID": env("KAFKA_CLIENT_ID", default=service),
        "TOPIC_PARTITIONS": env("KAFKA_TOPIC_PARTITIONS", default=3, cast=int),
        "REPLICATION_FACTOR": env("KAFKA_REPLICATION_FACTOR", default=1, cast=int),
        "SESSION_TIMEOUT_MS": env("KAFKA_SESSION_TIMEOUT_MS", default=10_000, cast=int),
        "FETCH_WAIT_MAX_MS": env("KAFKA_FETCH_WAIT_MAX_MS", default=50, cast=int),
        "DELIVERY_TIMEOUT_MS": env("KAFKA_DELIVERY_TIMEOUT_MS", default=10_000, cast=int),
        # Off only for the memory-only embedded broker, which forgets producer ids on restart.
        "IDEMPOTENCE": env("KAFKA_ENABLE_IDEMPOTENCE", default=True, cast=bool),
        "HANDLER_ATTEMPTS": env("CONSUMER_HANDLER_ATTEMPTS", default=3, cast=int),
        "CONSUMER_BATCH_SIZE": env("CONSUMER_BATCH_SIZE", default=500, cast=int),
        "SECURITY": {
            # Passed through to librdkafka as given, for managed clusters (SASL/SSL).
            name.lower().replace("_", "."): env(f"KAFKA_{name}")
            for name in ("SECURITY_PROTOCOL", "SASL_MECHANISM", "SASL_USERNAME", "SASL_PASSWORD")
            if env(f"KAFKA_{name}", default="")
        },
    }


__all__ = ["JWTRole", "build_settings", "env"]
