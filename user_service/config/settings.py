"""user_service settings: the shared base from servicekit plus the account specifics."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings, env

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="user_service",
        base_dir=BASE_DIR,
        apps=["rest_framework_simplejwt.token_blacklist", "servicekit.outbox", "accounts"],
        jwt_role=JWTRole.ISSUER,
        title="user_service API",
    )
)

AUTH_USER_MODEL = "accounts.User"

EVENTS = {
    # What relay_outbox publishes and ensure_topics creates (accounts/events.py: the contract).
    "PUBLISHES": ["accounts.events.USER_EVENTS"],
    # What republish writes: a user.snapshot of each account (accounts/services.py).
    "SNAPSHOTS": ["accounts.services.USER_SNAPSHOTS"],
}

AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "display_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Failed logins allowed per email and per client address within the window; the
# counters live in the database, so the limit holds across every gunicorn worker.
LOGIN_MAX_FAILURES_PER_EMAIL = env("LOGIN_MAX_FAILURES_PER_EMAIL", default=5, cast=int)
LOGIN_MAX_FAILURES_PER_ADDRESS = env("LOGIN_MAX_FAILURES_PER_ADDRESS", default=20, cast=int)
LOGIN_FAILURE_WINDOW_SECONDS = env("LOGIN_FAILURE_WINDOW_SECONDS", default=300, cast=int)

# Sign-ups (attempts, whatever their outcome) allowed per client address within the window.
SIGNUP_MAX_PER_ADDRESS = env("SIGNUP_MAX_PER_ADDRESS", default=10, cast=int)
SIGNUP_WINDOW_SECONDS = env("SIGNUP_WINDOW_SECONDS", default=3600, cast=int)
