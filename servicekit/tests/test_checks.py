"""No known key ever signs a token: published placeholders and weak keys stop a service."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from servicekit.checks import check_secrets
from servicekit.consumer import EventHandlers
from servicekit.devstack.secrets import dev_secrets, env_file_from_example

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = (ROOT / ".env.example").read_text()
SECRET_LINE = re.compile(r"^(?P<name>[A-Z_]*(?:SECRET|SIGNING_KEY|PASSWORD)[A-Z_]*)=(?P<value>.*)$", re.MULTILINE)


def ids(messages):
    return sorted(m.id for m in messages)


def example_value(name):
    return next(m["value"] for m in SECRET_LINE.finditer(EXAMPLE) if m["name"] == name)


@pytest.mark.parametrize("debug", [False, True])
def test_the_placeholders_of_env_example_are_refused_in_any_mode(settings, debug):
    settings.DEBUG = debug
    settings.SECRET_KEY = example_value("SECRET_KEY")
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": example_value("JWT_SIGNING_KEY")}
    assert ids(check_secrets()) == ["servicekit.E001", "servicekit.E002"]


def test_every_secret_in_env_example_is_a_placeholder():
    found = {m["name"]: m["value"] for m in SECRET_LINE.finditer(EXAMPLE)}
    assert {"SECRET_KEY", "JWT_SIGNING_KEY", "USER_DB_PASSWORD"} <= set(found)
    assert all("change-me" in value for value in found.values()), found


def test_a_short_key_stops_production_and_warns_in_development(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": "x" * 31}
    settings.DEBUG = False
    assert ids(check_secrets()) == ["servicekit.E003"]
    settings.DEBUG = True
    assert ids(check_secrets()) == ["servicekit.W003"]
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": "x" * 32}
    settings.DEBUG = False
    assert check_secrets() == []


def test_rs256_keys_are_not_measured_as_hmac_secrets(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ALGORITHM": "RS256", "SIGNING_KEY": ""}
    assert check_secrets() == []


def _start(command, **env):
    project = Path(__file__).parent / "project"
    return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "SECRET_KEY": "s" * 50, **env})  # fmt: skip


@pytest.mark.parametrize(
    "command",
    [
        [str(Path(sys.executable).parent / "gunicorn"), "config.wsgi:application", "--bind", "127.0.0.1:0"],
        [sys.executable, "manage.py", "relay_outbox"],
    ],
    ids=["web", "relay"],
)
def test_processes_refuse_to_start_with_a_published_key(command):
    result = _start(command, JWT_SIGNING_KEY=example_value("JWT_SIGNING_KEY"), DEBUG="True")
    assert result.returncode != 0
    assert "servicekit.E002" in result.stderr and "make env" in result.stderr


def test_a_missing_secret_is_one_line_not_a_traceback():
    result = _start([sys.executable, "manage.py", "check"], SECRET_KEY="")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_development_secrets_are_random_per_checkout_and_kept(tmp_path):
    first = dev_secrets(tmp_path / "a" / "dev-secrets.env")
    assert first == dev_secrets(tmp_path / "a" / "dev-secrets.env")  # survives restarts
    assert (tmp_path / "a" / "dev-secrets.env").stat().st_mode & 0o777 == 0o600
    other = dev_secrets(tmp_path / "b" / "dev-secrets.env")
    assert set(first) == {"SECRET_KEY", "JWT_SIGNING_KEY"}
    assert all(len(value) >= 64 and value != other[name] for name, value in first.items())


def test_make_env_replaces_every_placeholder_with_a_fresh_secret():
    written, again = env_file_from_example(EXAMPLE), env_file_from_example(EXAMPLE)
    assert "=change-me" not in written
    secrets = {m["name"]: m["value"] for m in SECRET_LINE.finditer(written)}
    assert secrets and all(len(v) >= 64 for v in secrets.values())
    assert secrets != {m["name"]: m["value"] for m in SECRET_LINE.finditer(again)}
    assert re.search(r"^KAFKA_CLUSTER_ID=[A-Za-z0-9_-]{22}$", written, re.MULTILINE)
    # Everything else is .env.example as it is.
    unchanged = [line for line in EXAMPLE.splitlines() if "change-me" not in line and "CLUSTER_ID=" not in line]
    assert [line for line in written.splitlines() if line in unchanged] == unchanged


def test_a_model_of_an_app_the_service_does_not_install_stops_it():
    """As if a service imported servicekit.inbox.models without installing servicekit.inbox:
    the model lands in the servicekit app, a table nobody creates."""
    from django.apps import apps
    from django.db import models

    from servicekit.checks import check_no_stray_models

    assert check_no_stray_models() == []

    class Stray(models.Model):  # noqa: DJ008 - never shown
        class Meta:
            app_label = "servicekit"

    try:
        assert [m.id for m in check_no_stray_models()] == ["servicekit.E011"]
    finally:
        del apps.all_models["servicekit"]["stray"]
        apps.clear_cache()


def test_every_key_a_service_accepts_is_checked_the_previous_ones_too(settings):
    settings.DEBUG = False
    good = "g" * 40
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": good,
                           "PREVIOUS_VERIFYING_KEYS": [example_value("JWT_SIGNING_KEY"), "short", good]}  # fmt: skip
    problems = check_secrets()
    assert ids(problems) == ["servicekit.E002", "servicekit.E003"]
    assert all(p.msg.startswith("A key of JWT_PREVIOUS_SIGNING_KEYS") for p in problems)


def test_an_issuer_whose_private_key_does_not_match_its_public_key_stops(settings):
    from servicekit.testkit.tokens import rsa_keypair

    private, public = rsa_keypair()
    rsa_keypair.cache_clear()
    try:
        _, other_public = rsa_keypair()
    finally:
        rsa_keypair.cache_clear()
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ALGORITHM": "RS256", "SIGNING_KEY": private, "VERIFYING_KEY": public}
    assert check_secrets() == []
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "VERIFYING_KEY": other_public}
    assert ids(check_secrets()) == ["servicekit.E004"]
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "SIGNING_KEY": ""}  # a verifier: nothing to match
    assert check_secrets() == []


#: A consumer that forgot to register servicekit's revocation handler.
NO_REVOCATIONS = EventHandlers(group="forgetful")
NO_REVOCATIONS.independent("user_events", "user.deleted")(lambda received: None)


def test_a_verifier_that_does_not_consume_revocations_stops(settings):
    from servicekit.revocation.checks import check_revocations_are_consumed

    assert check_revocations_are_consumed() == []  # the test service registers it
    settings.EVENTS = {**settings.EVENTS, "HANDLERS": "test_checks.NO_REVOCATIONS"}
    (problem,) = check_revocations_are_consumed()
    assert problem.id == "servicekit.E005" and "user.sessions_revoked, user.deleted" in problem.msg
    settings.EVENTS = {**settings.EVENTS, "HANDLERS": None}
    assert ids(check_revocations_are_consumed()) == ["servicekit.E005"]


def test_the_admins_pages_keep_csrf_and_clickjacking_protection(settings):
    """Django's own deployment checks of them are silenced (they look in MIDDLEWARE only)."""
    from servicekit.checks import check_admin_middleware

    assert check_admin_middleware() == []
    settings.BROWSER_MIDDLEWARE = [
        m for m in settings.BROWSER_MIDDLEWARE if "csrf" not in m and "clickjacking" not in m
    ]
    named = [p.msg.split()[3] for p in check_admin_middleware()]
    assert named == [
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
    ]
