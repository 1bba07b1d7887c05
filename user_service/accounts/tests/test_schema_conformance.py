"""The API against its own OpenAPI schema, with schemathesis (servicekit.testkit.conformance)."""

from types import SimpleNamespace

import pytest
import schemathesis
from django.contrib.auth.password_validation import (
    CommonPasswordValidator,
    NumericPasswordValidator,
    UserAttributeSimilarityValidator,
)

from accounts import services
from conftest import PASSWORD
from servicekit.testkit.conformance import call_and_validate

schema = schemathesis.pytest.from_fixture("api_schema")

#: What Django's password validators say that a schema cannot: a list of 20,000 common
#: passwords, similarity to the email or display name (which depends on them), and digits
#: other than 0-9 (the schema's pattern names the ASCII ones).
UNSTATEABLE_PASSWORD_RULES = {
    CommonPasswordValidator().get_error_message(),
    NumericPasswordValidator().get_error_message(),
}


#: Where a new password is chosen, and the field it is in.
NEW_PASSWORDS = {"/api/users/signup/": "password", "/api/users/me/password/": "new_password",
                 "/api/users/password-reset/confirm/": "new_password"}  # fmt: skip
#: What no schema can know: the caller's current password, the reset links that were sent.
UNKNOWABLE = {
    "/api/users/me/": {"current_password": [services.WRONG_PASSWORD]},
    "/api/users/me/password/": {"current_password": [services.WRONG_PASSWORD]},
    "/api/users/password-reset/confirm/": {"token": [services.INVALID_RESET]},
}


def unstateable_password_rule(case, response):
    """A schema-valid request may still be refused for a password rule, a wrong current
    password or an unknown reset link, and for nothing else."""
    if response.status_code != 400:
        return None
    body = response.json()
    if UNKNOWABLE.get(case.path) == body:
        return "a secret the schema cannot know"
    sent = case.body if isinstance(case.body, dict) else {}
    if case.path == "/api/users/me/" and "current_password" not in sent and "email" in sent:
        # OpenAPI 3.0 cannot say that one field needs another.
        return "a dependency between fields" if body == {"current_password": [services.PASSWORD_REQUIRED]} else None
    field = NEW_PASSWORDS.get(case.path)
    if field is None:
        return None
    similar = {
        UserAttributeSimilarityValidator().get_error_message() % {"verbose_name": name}
        for name in ("email address", "display name")
    }
    if set(body) == {field} and set(body[field]) <= UNSTATEABLE_PASSWORD_RULES | similar:
        return "a password rule the schema cannot state"
    return None


@pytest.fixture
def api_token(make_user):
    user = make_user()
    return services.user_login(email=user.email, password=PASSWORD, client=services.Client())[1]["access"]


@schema.parametrize()
def test_api_matches_its_schema(case):
    call_and_validate(case, excuse=unstateable_password_rule)


@pytest.mark.parametrize(
    "password, excused",
    [("password123", True), ("alice.wonderland", True), ("short", False), ("correct-horse-battery", False)],
)
def test_the_excuse_covers_only_what_the_schema_cannot_state(api_client, db, password, excused):
    """The check is off for exactly those answers: a common or too similar password."""
    body = {"email": "alice.wonderland@example.com", "password": password}
    response = api_client.post("/api/users/signup/", body, format="json")
    case = SimpleNamespace(path="/api/users/signup/", body=body)
    assert (unstateable_password_rule(case, response) is not None) is excused, response.content


@pytest.mark.parametrize(
    "path, body, excused",
    [
        ("/api/users/me/password/", {"current_password": "wrong", "new_password": "another-horse-battery"}, True),
        ("/api/users/me/password/", {"current_password": PASSWORD, "new_password": "password123"}, True),
        ("/api/users/me/password/", {"current_password": PASSWORD, "new_password": "short"}, False),
        ("/api/users/me/", {"email": "new@example.com"}, True),
        ("/api/users/me/", {"email": "new@example.com", "current_password": "wrong"}, True),
        ("/api/users/me/", {"email": "new@example.com", "current_password": ""}, False),
        ("/api/users/me/", {"email": "not an email", "current_password": PASSWORD}, False),
        ("/api/users/password-reset/confirm/", {"uid": "MA", "token": "x", "new_password": "another-horse"}, True),
    ],
)
def test_the_excuse_covers_unknowable_secrets_and_nothing_else(api_client, api_token, path, body, excused):
    method = api_client.patch if path == "/api/users/me/" else api_client.post
    response = method(path, body, format="json", HTTP_AUTHORIZATION=f"Bearer {api_token}")
    assert response.status_code == 400, response.content
    case = SimpleNamespace(path=path, body=body)
    assert (unstateable_password_rule(case, response) is not None) is excused, response.content
