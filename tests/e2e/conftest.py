import time
import uuid

import pytest
import requests

from servicekit.devstack.embedded_broker import EmbeddedBroker
from servicekit.devstack.launcher import SERVICES
from tests.e2e.stack import Stack, drop_database, new_prefix, stack_environment

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The whole stack, started the way ``make run`` starts it, for the session."""
    broker = EmbeddedBroker(log_path=tmp_path_factory.mktemp("broker") / "broker.log").start()
    prefix = new_prefix()
    stack = Stack(env=stack_environment(prefix, broker.bootstrap_servers), broker=broker,
                  log_dir=tmp_path_factory.mktemp("logs"))  # fmt: skip
    try:
        stack.up()
        wait_until_events_flow(stack)
        yield stack
    finally:
        stack.down()
        broker.stop()
        for spec in SERVICES:
            drop_database(f"{prefix}_{spec.directory}")


def wait_until_events_flow(stack: Stack) -> None:
    """Ready HTTP is not yet a live pipeline: the consumers' first group join takes a few
    seconds. One signup, seen by consumer_service, shows that events flow end to end."""
    probe = User(stack)
    eventually(
        lambda: _assert(probe.call("GET", "consumer", "/api/events/?count=true").json()["count"] >= 1), timeout=60
    )


def _assert(condition: bool) -> None:
    assert condition


class User:
    """A person using the API: signs up, logs in, and calls every service with a token."""

    def __init__(self, stack: Stack, email: str | None = None) -> None:
        self.stack = stack
        self.email = email or f"user-{uuid.uuid4().hex[:8]}@example.com"
        self.session = requests.Session()
        response = self.session.post(f"{stack.url('user')}/api/users/signup/",
                                     json={"email": self.email, "password": PASSWORD}, timeout=10)  # fmt: skip
        assert response.status_code == 201, response.text
        body = response.json()
        self.id, self.access, self.refresh = body["user"]["id"], body["access"], body["refresh"]

    def call(self, method: str, service: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.access}", **kwargs.pop("headers", {})}
        return self.session.request(method, f"{self.stack.url(service)}{path}", headers=headers, timeout=10, **kwargs)


@pytest.fixture
def new_user(stack):
    return lambda email=None: User(stack, email)


def eventually(check, timeout: float = 20.0, interval: float = 0.1):
    """Retries ``check`` (an assertion-raising callable) until it passes or time runs out."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return check()
        except AssertionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(interval)
