"""The service against its own OpenAPI schema: schemathesis, in every service's suite.

Each service's suite has one test (``test_schema_conformance.py``)::

    schema = schemathesis.pytest.from_fixture("api_schema")

    @schema.parametrize()
    def test_api_matches_its_schema(case):
        call_and_validate(case)

``api_schema`` (a fixture of the test kit's pytest plugin) is the schema the service serves
at ``/api/schema/``, tested against the service's WSGI application in this process, with
the caller's token from the ``api_token`` fixture. Every check schemathesis has is on, with
its default expectations: no 5xx, only documented statuses, content types, headers and
bodies, schema-valid requests accepted, schema-invalid ones refused, a 401 without a token,
405 for undocumented methods. Generation is derandomized from a fixed seed, so every run
sends the same requests; ``MAX_EXAMPLES`` bounds the random (fuzzing) phase per operation,
next to the examples and the coverage phase (boundary values, every kind of invalid
input), which are bounded by the schema. The stateful phase is off: no operation declares
links, so it would only repeat single calls, for most of the time the rest takes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

SEED = 15
MAX_EXAMPLES = 25

CONFIG: dict[str, Any] = {
    "seed": SEED,
    "generation": {"deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
}


@contextmanager
def django_handler_keeps_the_test_connection() -> Iterator[None]:
    """Django closes the database connection when a request ends: in a test it is the test's
    transaction. Its own test client unhooks this; the WSGI app schemathesis calls needs it too."""
    from django.core import signals
    from django.db import close_old_connections

    for signal in (signals.request_started, signals.request_finished):
        signal.disconnect(close_old_connections)
    try:
        yield
    finally:
        for signal in (signals.request_started, signals.request_finished):
            signal.connect(close_old_connections)


def load_schema(token: str, *, path_parameters: dict[str, str]) -> Any:
    """The schema the service serves, bound to its WSGI application, authenticated with
    ``token``, with ``path_parameters`` in every path that has them."""
    import schemathesis
    from django.core.wsgi import get_wsgi_application

    config = schemathesis.Config.from_dict(
        {
            **CONFIG,
            "auth": {"openapi": {"jwtAuth": {"bearer": token}}},
            "parameters": {f"path.{name}": value for name, value in path_parameters.items()},
        }
    )
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", get_wsgi_application(), config=config)


@contextmanager
def rolled_back() -> Iterator[None]:
    """Every generated request starts from the same database: its writes are undone."""
    from django.db import transaction

    with transaction.atomic():
        yield
        transaction.set_rollback(True)


#: ``excuse(case, response)``: why this answer to a schema-valid request may be a refusal
#: the schema cannot state, or None.
Excuse = Callable[[Any, Any], "str | None"]


def call_and_validate(case: Any, *, excuse: Excuse | None = None) -> None:
    """Sends ``case`` and runs every check on the answer, in a rolled-back transaction.

    ``excuse`` names the one exemption a service may have: a positive (schema-valid)
    request refused for a reason the schema cannot express, which the excuse must recognise
    precisely (a password on a list of common ones, say).
    """
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    with rolled_back():
        response = case.call()
        excused = excuse is not None and excuse(case, response) is not None
        case.validate_response(response, excluded_checks=[positive_data_acceptance] if excused else None)
