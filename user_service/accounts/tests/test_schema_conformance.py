"""The API against its own OpenAPI schema, with schemathesis (servicekit.testkit.conformance)."""

from types import SimpleNamespace

import pytest
import schemathesis
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    NumericPasswordValidator,
    UserAttributeSimilarityValidator,
)

from accounts.tokens import token_pair_for
from servicekit.testkit.conformance import call_and_validate

schema = schemathesis.pytest.from_fixture("api_schema")

#: What Django's password validators say that a schema cannot: a list of 20,000 common
#: passwords, similarity to the email or display name (which depends on them), and digits
#: other than 0-9 (the schema's pattern names the ASCII ones).
UNSTATEABLE_PASSWORD_RULES = {
    CommonPasswordValidator().get_error_message(),
    NumericPasswordValidator().get_error_message(),
}


def unstateable_password_rule(case, response):
    """A schema-valid sign-up may still be refused for its password, and for nothing else."""
    if case.path != "/api/users/signup/" or response.status_code != 400:
        return None
    body = response.json()
    similar = UserAttributeSimilarityValidator().get_error_message() % {"verbose_name": "email address"}
    similar_name = UserAttributeSimilarityValidator().get_error_message() % {"verbose_name": "display name"}
    if set(body) == {"password"} and set(body["password"]) <= UNSTATEABLE_PASSWORD_RULES | {similar, similar_name}:
        return "a password rule the schema cannot state"
    return None


@pytest.fixture
def api_token(make_user):
    return token_pair_for(make_user())["access"]


@schema.parametrize()
def test_api_matches_its_schema(case):
    call_and_validate(case, excuse=unstateable_password_rule)


@pytest.mark.parametrize(
    "password, excused",
    [("password123", True), ("alice.wonderland", True), ("short", False), ("correct-horse-battery", False)],
)
def test_the_excuse_covers_only_what_the_schema_cannot_state(api_client, db, password, excused):
    """The check is off for exactly those answers: a common or too similar password."""
    response = api_client.post(
        "/api/users/signup/", {"email": "alice.wonderland@example.com", "password": password}, format="json"
    )
    case = SimpleNamespace(path="/api/users/signup/")
    assert (unstateable_password_rule(case, response) is not None) is excused, response.content
