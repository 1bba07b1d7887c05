"""user_service settings: the shared base from servicekit plus the account specifics."""

from pathlib import Path

from servicekit.settings import JWTRole, build_settings, env

BASE_DIR = Path(__file__).resolve().parent.parent

globals().update(
    build_settings(
        service="user_service",
        base_dir=BASE_DIR,
        apps=["servicekit.outbox", "accounts"],
        jwt_role=JWTRole.ISSUER,
        title="user_service API",
        admin=True,
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

# Sign-ups (attempts, whatever their outcome) allowed per client address within the window.
SIGNUP_MAX_PER_ADDRESS = env("SIGNUP_MAX_PER_ADDRESS", default=10, cast=int)
SIGNUP_WINDOW_SECONDS = env("SIGNUP_WINDOW_SECONDS", default=3600, cast=int)

# Password resets: requests per client address (then 429) and emails per address they go
# to (the requests past that are answered alike but send nothing), within the window.
RESET_LINK_MAX_PER_ADDRESS = env("RESET_LINK_MAX_PER_ADDRESS", default=10, cast=int)
RESET_LINK_MAX_PER_EMAIL = env("RESET_LINK_MAX_PER_EMAIL", default=3, cast=int)
RESET_LINK_WINDOW_SECONDS = env("RESET_LINK_WINDOW_SECONDS", default=3600, cast=int)
# How long a reset link works (Django's token generator), and the page it opens, if any
# (?uid=...&token=... appended); without one the email gives the API call to make.
PASSWORD_RESET_TIMEOUT = env("RESET_LINK_TIMEOUT_SECONDS", default=3600, cast=int)
RESET_LINK_URL = env("RESET_LINK_URL", default="")

# Email (password resets), through Django's backend: SMTP unless EMAIL_BACKEND says
# otherwise (`make run` prints emails: the console backend).
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.smtp.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", default="localhost")
EMAIL_PORT = env("EMAIL_PORT", default=25, cast=int)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = env("EMAIL_USE_TLS", default=False, cast=bool)
EMAIL_USE_SSL = env("EMAIL_USE_SSL", default=False, cast=bool)
EMAIL_TIMEOUT = env("EMAIL_TIMEOUT_SECONDS", default=10, cast=int)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="accounts@localhost")
