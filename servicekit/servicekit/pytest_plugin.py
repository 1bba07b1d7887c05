"""pytest plugin shared by every service's test suite (``-p servicekit.pytest_plugin``).

Before Django's settings load it points the service at PostgreSQL:
``DATABASE_URL`` is taken from ``TEST_DATABASE_URL`` (default: the local server), and
each service's test database is ``test_<service>``. It also gives dev-safe secrets so
the suite needs no ``.env``.
"""

from __future__ import annotations

import os

import pytest

DEFAULT_TEST_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/postgres"

TEST_ENV = {
    "SECRET_KEY": "test-secret-key",
    "JWT_SIGNING_KEY": "test-jwt-signing-key-of-a-decent-length",
    "JWT_ALGORITHM": "HS256",
    "DEBUG": "False",
    "LOG_LEVEL": "WARNING",
}


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config, parser, args):
    os.environ["DATABASE_URL"] = os.environ.get("TEST_DATABASE_URL", DEFAULT_TEST_DATABASE_URL)
    os.environ.update(TEST_ENV)
    return (yield)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture
def use_jwt_backend(monkeypatch):
    """Switch simplejwt's signer/verifier for one test: ``use_jwt_backend(backend)``."""
    import rest_framework_simplejwt.state

    def install(backend):
        monkeypatch.setattr(rest_framework_simplejwt.state, "token_backend", backend)
        return backend

    return install
