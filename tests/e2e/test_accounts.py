"""Accounts across the stack: what user_service revokes, every service refuses within 5 s of
the event, reads and writes alike (the services' real consumers and web servers)."""

import time

import requests

from servicekit.devstack.launcher import SERVICES
from tests.e2e.conftest import PASSWORD, eventually

NEW_PASSWORD = "another-horse-battery-staple"
#: A read and a write in every service that verifies tokens.
CALLS = [
    ("GET", "post", "/api/posts/", None),
    ("POST", "post", "/api/posts/", {"title": "after"}),
    ("GET", "note", "/api/notes/", None),
    ("POST", "note", "/api/notes/", {"title": "after", "content": "x"}),
    ("GET", "consumer", "/api/activity/me/", None),
    ("GET", "consumer", "/api/events/", None),
]


def statuses(user, access):
    return [
        user.call(method, service, path, json=body, headers={"Authorization": f"Bearer {access}"}).status_code
        for method, service, path, body in CALLS
    ]


def refused_everywhere_within_5s(user, access):
    started = time.monotonic()

    def refused():
        assert statuses(user, access) == [401] * len(CALLS)

    eventually(refused, timeout=5, interval=0.05)
    return time.monotonic() - started


def log_in(stack, user):
    response = requests.post(f"{stack.gateway}/api/users/login/", json={"email": user.email, "password": PASSWORD},
                             timeout=10)  # fmt: skip
    assert response.status_code == 200, response.text
    return response.json()


def test_a_password_change_revokes_every_earlier_access_token_in_every_service(stack, new_user):
    user = new_user()
    elsewhere = log_in(stack, user)
    assert statuses(user, elsewhere["access"]) == [200, 201, 200, 201, 200, 200]
    change = user.call("POST", "user", "/api/users/me/password/",
                       json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})  # fmt: skip
    assert change.status_code == 200, change.text
    for access in (user.access, elsewhere["access"]):
        refused_everywhere_within_5s(user, access)
    fresh = change.json()["access"]
    assert statuses(user, fresh) == [200, 201, 200, 201, 200, 200]


def test_ending_one_session_revokes_its_tokens_only(stack, new_user):
    user = new_user()
    phone = log_in(stack, user)
    out = user.call("POST", "user", "/api/users/logout/", json={"refresh": phone["refresh"]})
    assert out.json() == {"detail": "Logged out."}
    refused_everywhere_within_5s(user, phone["access"])
    assert statuses(user, user.access) == [200, 201, 200, 201, 200, 200]  # the sign-up's session goes on


def test_a_reused_refresh_token_revokes_its_session_in_every_service(stack, new_user):
    """The thief refreshes first; the owner's later refresh with the same token ends the
    session, and the thief's access token dies everywhere with it."""
    user = new_user()
    thief = requests.post(f"{stack.gateway}/api/users/token/refresh/", json={"refresh": user.refresh}, timeout=10)
    assert thief.status_code == 200
    owner = requests.post(f"{stack.gateway}/api/users/token/refresh/", json={"refresh": user.refresh}, timeout=10)
    assert owner.status_code == 401
    refused_everywhere_within_5s(user, thief.json()["access"])
    assert "refresh token reuse: a token session" in stack.log("web-user")


def test_logging_out_everywhere_revokes_every_access_token(stack, new_user):
    user = new_user()
    sessions = [log_in(stack, user) for _ in range(2)]
    assert user.call("POST", "user", "/api/users/logout/all/").status_code == 200
    for access in (user.access, *(s["access"] for s in sessions)):
        refused_everywhere_within_5s(user, access)


def test_the_admin_is_served_by_user_service_only(stack):
    for spec in SERVICES:
        response = requests.get(f"{stack.url(spec.short)}/admin/login/", timeout=10)
        assert response.status_code == (200 if spec.directory == "user_service" else 404), spec.short
