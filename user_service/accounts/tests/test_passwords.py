"""Passwords: changed with the current one, reset by email; either ends every session.
An email change needs the current password too."""

import re
import threading
from datetime import timedelta

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts import mail as account_mail
from accounts.models import Session, User
from conftest import PASSWORD, bearer
from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.events import assert_matches_contract

pytestmark = pytest.mark.django_db
CHANGE, RESET, CONFIRM = "/api/users/me/password/", "/api/users/password-reset/", "/api/users/password-reset/confirm/"
ME, REFRESH, LOGIN = "/api/users/me/", "/api/users/token/refresh/", "/api/users/login/"
NEW_PASSWORD = "another-horse-battery-staple"


def can_log_in(client, password, email="alice@example.com"):
    return client.post(LOGIN, {"email": email, "password": password}, format="json").status_code == 200


def revocations():
    rows = OutboxEvent.objects.filter(event_type="user.sessions_revoked").order_by("id")
    for row in rows:
        assert_matches_contract(row.payload)
    return [(row.payload["data"]["reason"], row.payload["data"]["session"]) for row in rows]


def all_refused(client, *pairs):
    """Every token of ``pairs`` is refused, access and refresh."""
    return all(
        client.get(ME, **bearer(pair["access"])).status_code == 401
        and client.post(REFRESH, {"refresh": pair["refresh"]}, format="json").status_code == 401
        for pair in pairs
    )


# -- change ------------------------------------------------------------------------------------


def test_a_password_change_ends_every_session_and_gives_this_client_a_new_one(api_client, make_user, login):
    make_user()
    elsewhere, here = login(), login()
    response = api_client.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json",
                               **bearer(here["access"]))  # fmt: skip
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    fresh = response.json()
    assert set(fresh) == {"access", "refresh"}
    assert all_refused(api_client, elsewhere, here)
    assert api_client.get(ME, **bearer(fresh["access"])).status_code == 200
    assert api_client.post(REFRESH, {"refresh": fresh["refresh"]}, format="json").status_code == 200
    assert Session.objects.filter(revoked_at=None).count() == 1
    assert revocations() == [("password_changed", None)]
    assert can_log_in(api_client, NEW_PASSWORD) and not can_log_in(api_client, PASSWORD)


@pytest.mark.parametrize(
    "body, errors",
    [
        (
            {"current_password": "wrong", "new_password": NEW_PASSWORD},
            {"current_password": ["The current password is wrong."]},
        ),
        (
            {"current_password": PASSWORD, "new_password": "password"},
            {"new_password": ["This password is too common."]},
        ),
        (
            {"current_password": PASSWORD, "new_password": "alice@example"},
            {"new_password": ["The password is too similar to the email address."]},
        ),
        (
            {"current_password": PASSWORD, "new_password": "9478201635187"},
            {"new_password": ["This password is entirely numeric."]},
        ),
        ({"current_password": PASSWORD}, {"new_password": ["This field is required."]}),
        ({"current_password": PASSWORD, "new_password": 12345678}, {"new_password": ["Not a valid string."]}),
        (
            {"current_password": PASSWORD, "new_password": "x" * 129},
            {"new_password": ["Ensure this field has no more than 128 characters."]},
        ),
    ],
    ids=["wrong-current", "common", "similar", "numeric", "missing", "not-a-string", "too-long"],
)
def test_a_refused_password_change_is_400_naming_why_and_changes_nothing(api_client, make_user, login, body,
                                                                         errors):  # fmt: skip
    make_user()
    pair = login()
    response = api_client.post(CHANGE, body, format="json", **bearer(pair["access"]))
    assert response.status_code == 400 and response.json() == errors
    assert can_log_in(api_client, PASSWORD)
    assert api_client.get(ME, **bearer(pair["access"])).status_code == 200 and revocations() == []


def test_guessing_the_current_password_is_limited_like_logins(api_client, make_user, login, settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 2
    make_user()
    pair = login()
    wrong = {"current_password": "guess", "new_password": NEW_PASSWORD}
    for _ in range(2):
        assert api_client.post(CHANGE, wrong, format="json", **bearer(pair["access"])).status_code == 400
    right = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    throttled = api_client.post(CHANGE, right, format="json", **bearer(pair["access"]))
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert User.objects.get().check_password(PASSWORD)
    # The same limits as logins: that address is done guessing this account's password for now.
    assert not can_log_in(api_client, PASSWORD)


def test_a_password_change_needs_an_access_token(api_client, make_user):
    make_user()
    response = api_client.post(CHANGE, {"current_password": PASSWORD, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 401


# -- email change ------------------------------------------------------------------------------


def test_a_new_email_needs_the_current_password(api_client, make_user, login):
    make_user()
    pair = login()
    auth = bearer(pair["access"])
    missing = api_client.patch(ME, {"email": "new@example.com"}, format="json", **auth)
    assert missing.status_code == 400 and missing.json() == {
        "current_password": ["The current password is required to change the email."]}  # fmt: skip
    wrong = api_client.patch(ME, {"email": "new@example.com", "current_password": "nope"}, format="json", **auth)
    assert wrong.status_code == 400 and wrong.json() == {"current_password": ["The current password is wrong."]}
    assert User.objects.get().email == "alice@example.com"
    assert not OutboxEvent.objects.filter(event_type="user.updated").exists()
    changed = api_client.patch(ME, {"email": "New@Example.com", "current_password": PASSWORD}, format="json", **auth)
    assert changed.status_code == 200 and changed.json()["email"] == "new@example.com"
    (event,) = OutboxEvent.objects.filter(event_type="user.updated")
    assert_matches_contract(event.payload)
    assert event.payload["data"] == {"id": changed.json()["id"]}  # the email stays here


def test_the_display_name_and_the_same_email_need_no_password(api_client, make_user, login):
    make_user()
    auth = bearer(login()["access"])
    response = api_client.patch(ME, {"display_name": "Alice", "email": "ALICE@example.com"}, format="json", **auth)
    assert response.status_code == 200 and response.json()["display_name"] == "Alice"


# -- reset by email -----------------------------------------------------------------------------


def request_reset(client, email="alice@example.com", address="10.0.0.1"):
    response = client.post(RESET, {"email": email}, format="json", REMOTE_ADDR=address)
    account_mail.sent()
    return response


def link_in(message):
    uid, token = re.search(r'"uid": "([^"]+)", "token": "([^"]+)"', message.body).groups()
    return {"uid": uid, "token": token}


def test_a_reset_request_is_answered_the_same_whether_the_account_exists_or_not(api_client, make_user):
    make_user()
    known, unknown = request_reset(api_client), request_reset(api_client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() == {
        "detail": "If an account has this email, a link to reset its password is on its way."}  # fmt: skip
    (message,) = mail.outbox
    assert message.to == ["alice@example.com"] and message.subject == "Reset your password"
    assert "/api/users/password-reset/confirm/" in message.body


def test_a_reset_request_does_the_same_work_for_an_unknown_email_and_sends_after_the_answer(api_client, make_user,
                                                                                           settings):  # fmt: skip
    """The same statements either way, and the email leaves from another thread: how long a
    mail server takes cannot tell that an account exists."""
    make_user()
    with CaptureQueriesContext(connection) as known:
        request_reset(api_client)
    with CaptureQueriesContext(connection) as unknown:
        request_reset(api_client, "nobody@example.com")
    assert [q["sql"].split()[0] for q in known] == [q["sql"].split()[0] for q in unknown]
    release = threading.Event()
    settings.EMAIL_BACKEND = "accounts.tests.test_passwords.StalledBackend"
    StalledBackend.release = release
    response = api_client.post(RESET, {"email": "alice@example.com"}, format="json", REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 202 and len(mail.outbox) == 1  # answered, the email still on its way
    release.set()
    account_mail.sent()
    assert len(mail.outbox) == 2


class StalledBackend:
    """An email backend that does not finish until ``release`` is set (a slow SMTP server)."""

    release = threading.Event()

    def __init__(self, **kwargs):
        pass

    def send_messages(self, messages):
        assert self.release.wait(10)
        mail.outbox.extend(messages)
        return len(messages)


def test_the_link_sets_the_password_once_and_ends_every_session(api_client, make_user, login):
    make_user()
    sessions = [login(), login()]
    request_reset(api_client)
    link = link_in(mail.outbox[0])
    response = api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 200 and response.json() == {"detail": "Password changed: log in with the new one."}
    assert all_refused(api_client, *sessions)
    assert revocations() == [("password_reset", None)]
    assert can_log_in(api_client, NEW_PASSWORD)
    again = api_client.post(CONFIRM, {**link, "new_password": "yet-another-horse-battery"}, format="json")
    assert again.status_code == 400 and again.json() == {"token": ["The reset link is invalid or has expired."]}
    assert can_log_in(api_client, NEW_PASSWORD)


def test_a_link_expires(api_client, make_user, settings, monkeypatch):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    make_user()
    request_reset(api_client)
    link = link_in(mail.outbox[0])
    later = PasswordResetTokenGenerator._now(PasswordResetTokenGenerator()) + timedelta(seconds=3601)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json")
    assert response.status_code == 400 and "token" in response.json()
    assert can_log_in(api_client, PASSWORD)


@pytest.mark.parametrize(
    "change",
    [{"uid": "garbage!"}, {"uid": "MTIz"}, {"uid": ""}, {"token": "1-2"}, {"token": "x" * 129}, {"uid": 5},
     {"new_password": "password"}, {"new_password": ...}, {"token": ...}],
    ids=["uid-garbage", "uid-not-a-uuid", "uid-empty", "token-wrong", "token-long", "uid-int", "weak-password",
         "no-password", "no-token"],
)  # fmt: skip
def test_a_bad_confirmation_is_a_400_naming_the_field(api_client, make_user, change):
    make_user()
    request_reset(api_client)
    body = {**link_in(mail.outbox[0]), "new_password": NEW_PASSWORD, **change}
    response = api_client.post(CONFIRM, {k: v for k, v in body.items() if v is not ...}, format="json")
    assert response.status_code == 400 and set(response.json()) <= {"uid", "token", "new_password"}
    assert can_log_in(api_client, PASSWORD)


def test_another_accounts_uid_with_this_token_is_refused(api_client, make_user):
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    make_user()
    bob = make_user("bob@example.com")
    request_reset(api_client)
    link = {**link_in(mail.outbox[0]), "uid": urlsafe_base64_encode(force_bytes(bob.pk))}
    assert api_client.post(CONFIRM, {**link, "new_password": NEW_PASSWORD}, format="json").status_code == 400
    assert can_log_in(api_client, PASSWORD, "bob@example.com")


def test_reset_emails_to_one_address_are_capped_and_requests_per_client_address_limited(api_client, make_user,
                                                                                       settings):  # fmt: skip
    settings.RESET_LINK_MAX_PER_EMAIL = 2
    settings.RESET_LINK_MAX_PER_ADDRESS = 4
    make_user()
    statuses = [request_reset(api_client, address=f"10.0.0.{i}").status_code for i in range(4)]
    assert statuses == [202] * 4 and len(mail.outbox) == 2  # the same answer; no more emails
    for _ in range(3):
        request_reset(api_client, "someone@example.com", address="10.0.9.9")
    throttled = request_reset(api_client, "someone@example.com", address="10.0.9.9")
    assert request_reset(api_client, "other@example.com", address="10.0.9.9").status_code == 429
    assert throttled.status_code == 202
    assert int(request_reset(api_client, address="10.0.9.9")["Retry-After"]) >= 1


@pytest.mark.parametrize("body", [{}, {"email": "not-an-email"}, {"email": 5}, {"email": "a@" + "b" * 300 + ".com"}])
def test_a_malformed_reset_request_is_400(api_client, body):
    response = api_client.post(RESET, body, format="json")
    assert response.status_code == 400 and "email" in response.json()


def test_the_email_links_to_the_applications_page_when_there_is_one(api_client, make_user, settings):
    settings.RESET_LINK_URL = "https://app.example.com/reset"
    make_user()
    request_reset(api_client)
    link = link_in(mail.outbox[0])
    assert f"https://app.example.com/reset?uid={link['uid']}&token={link['token']}" in mail.outbox[0].body
