"""pytest plugin shared by every service's test suite (``-p servicekit.testkit.pytest_plugin``).

Before Django's settings load it points the service at PostgreSQL:
``DATABASE_URL`` is taken from ``TEST_DATABASE_URL`` (default: the local server), and
each service's test database is ``test_<service>``. It also gives random secrets, new
for every run, so the suite needs no ``.env`` and no key is written down anywhere.
"""

from __future__ import annotations

import os
import secrets

import pytest

DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

TEST_ENV = {
    "SECRET_KEY": secrets.token_urlsafe(48),
    "JWT_SIGNING_KEY": secrets.token_urlsafe(48),
    "JWT_ALGORITHM": "HS256",
    "DEBUG": "False",
    "LOG_LEVEL": "WARNING",
    # Every request reads the revocations committed since the last one (in production at most
    # once a second): a test sees a revocation at once. servicekit's tests cover the interval.
    "REVOCATION_REFRESH_SECONDS": "0",
}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    os.environ.update(TEST_ENV)
    return (yield)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_revocation_view():
    """Each test starts with an empty copy of the revocations: its database is its own."""
    from servicekit.revocation.view import reset

    reset()
    yield
    reset()


@pytest.fixture
def serve_admin(settings):
    """``serve_admin(enabled)``: ``/admin/`` served or not for the rest of the test, as
    ``ADMIN_ENABLED`` says at startup (the URLs are read again, and again after the test)."""
    import importlib

    from django.urls import clear_url_caches

    def serve(enabled: bool) -> None:
        settings.ADMIN_ENABLED = enabled
        importlib.reload(importlib.import_module(settings.ROOT_URLCONF))
        clear_url_caches()

    before = settings.ADMIN_ENABLED
    yield serve
    serve(before)


@pytest.fixture
def admin_enabled(serve_admin):
    serve_admin(True)


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def use_jwt_backend(monkeypatch):
    """Switch the tokens' signer/verifier for one test: ``use_jwt_backend(backend)`` (see
    ``servicekit.testkit.tokens.token_backend_for``)."""
    import servicekit.tokens

    def install(backend):
        monkeypatch.setattr(servicekit.tokens, "token_backend", lambda: backend)
        return backend

    return install


# -- Kafka: a real broker process --------------------------------------------------------------


class ExternalBroker:
    """The broker named by ``KAFKA_BOOTSTRAP_SERVERS``: used as is, never stopped or restarted."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap_servers = bootstrap_servers

    def stop(self) -> None:
        pytest.skip("needs the embedded broker (KAFKA_BOOTSTRAP_SERVERS points at an external one)")

    start = restart = stop


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory):
    """A Kafka-protocol broker for the whole session.

    ``KAFKA_BOOTSTRAP_SERVERS`` in the environment names an external one; otherwise an
    embedded Tansu broker is started on a free 127.0.0.1 port and stopped at the end.
    """
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        yield ExternalBroker(external)
        return
    from servicekit.devstack.embedded_broker import EmbeddedBroker

    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("kafka") / "broker.log").start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def kafka(kafka_broker, settings):
    """Points this service's Kafka settings at the session broker, with its topics created:
    those it owns, and those it consumes (in a test, nobody else creates them)."""
    from servicekit.kafka import ensure_topics, event_handlers, own_topics

    settings.KAFKA = {
        **settings.KAFKA,
        "BOOTSTRAP_SERVERS": kafka_broker.bootstrap_servers,
        # The embedded broker's first group join waits about half the session timeout.
        "SESSION_TIMEOUT_MS": 6000,
        "FETCH_WAIT_MAX_MS": 20,
        "DELIVERY_TIMEOUT_MS": 3000,
        # The embedded broker forgets producer ids on restart (see servicekit.kafka).
        "IDEMPOTENCE": isinstance(kafka_broker, ExternalBroker),
    }
    handlers = event_handlers()
    ensure_topics(topics=[*own_topics(), *(handlers.topics if handlers else [])], timeout=30)
    return kafka_broker


# -- schemathesis: the service against its own schema (servicekit.testkit.conformance) ----------


@pytest.fixture
def api_caller_id():
    import uuid

    return uuid.uuid4()


@pytest.fixture
def api_token(api_caller_id) -> str:
    """The access token the schema tests call with; user_service's suite gives a real user's."""
    from servicekit.testkit.tokens import mint_access_token

    return mint_access_token(api_caller_id)


@pytest.fixture
def api_path_parameters() -> dict[str, str]:
    """Path parameters every generated request uses, e.g. the id of an object of the caller's
    (random ids only ever reach the 404); none by default."""
    return {}


@pytest.fixture
def api_schema(api_token, api_path_parameters, db):
    from servicekit.testkit.conformance import django_handler_keeps_the_test_connection, load_schema

    with django_handler_keeps_the_test_connection():
        yield load_schema(api_token, path_parameters=api_path_parameters)
