"""Sessions: one per login, listed and ended by their owner; refresh token reuse ends one
(RFC 9700); logging out ends one, or every one, and their access tokens with them."""

import logging
import uuid

import pytest

from accounts.models import Session
from conftest import bearer
from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.events import assert_matches_contract

pytestmark = pytest.mark.django_db
SESSIONS, REFRESH, ME = "/api/users/me/sessions/", "/api/users/token/refresh/", "/api/users/me/"


def refresh(client, token):
    return client.post(REFRESH, {"refresh": token}, format="json")


def me(client, access):
    return client.get(ME, **bearer(access))


def revocations():
    """The user.sessions_revoked events written, as (reason, session or None)."""
    rows = OutboxEvent.objects.filter(event_type="user.sessions_revoked").order_by("id")
    for row in rows:
        assert_matches_contract(row.payload)
    return [(row.payload["data"]["reason"], row.payload["data"]["session"]) for row in rows]


def test_each_login_is_a_session_listed_with_where_and_when(api_client, make_user, login):
    make_user()
    login(HTTP_USER_AGENT="curl/8.5", REMOTE_ADDR="192.0.2.10")
    current = login(HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="198.51.100.20")
    listing = api_client.get(SESSIONS, **bearer(current["access"]))
    assert listing.status_code == 200
    sessions = listing.json()["results"]
    assert [(s["user_agent"], s["ip_address"], s["current"]) for s in sessions] == [
        ("Firefox/140", "198.51.100.20", True),
        ("curl/8.5", "192.0.2.10", False),
    ]
    assert set(sessions[0]) == {"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip_address",
                                "current"}  # fmt: skip


def test_a_refresh_moves_the_session_forward_and_records_its_last_use(api_client, make_user, login):
    make_user()
    pair = login(HTTP_USER_AGENT="app/1", REMOTE_ADDR="192.0.2.1")
    session = Session.objects.get()
    new = api_client.post(REFRESH, {"refresh": pair["refresh"]}, format="json", HTTP_USER_AGENT="app/2",
                          REMOTE_ADDR="192.0.2.2").json()  # fmt: skip
    after = Session.objects.get()
    assert (after.id, after.user_agent, after.ip_address) == (session.id, "app/2", "192.0.2.2")
    assert after.last_used_at > session.last_used_at and after.refresh_jti != session.refresh_jti
    assert api_client.get(SESSIONS, **bearer(new["access"])).json()["results"][0]["current"] is True


def test_ending_one_session_refuses_its_tokens_and_leaves_the_others(api_client, make_user, login):
    make_user()
    phone, laptop = login(), login()
    phone_id = api_client.get(SESSIONS, **bearer(laptop["access"])).json()["results"][1]["id"]
    assert api_client.delete(f"{SESSIONS}{phone_id}/", **bearer(laptop["access"])).status_code == 204
    assert refresh(api_client, phone["refresh"]).status_code == 401
    assert me(api_client, phone["access"]).status_code == 401
    assert me(api_client, laptop["access"]).status_code == 200
    assert [s["id"] for s in api_client.get(SESSIONS, **bearer(laptop["access"])).json()["results"]] != [phone_id]
    assert revocations() == [("session_revoked", phone_id)]
    # Gone now, like one that never was
    assert api_client.delete(f"{SESSIONS}{phone_id}/", **bearer(laptop["access"])).status_code == 404


def test_another_users_session_or_an_unknown_one_is_404(api_client, make_user, login):
    make_user(), make_user("bob@example.com")
    alice, bob = login(), login("bob@example.com")
    bobs = Session.objects.get(user__email="bob@example.com").id
    for target in (bobs, uuid.uuid4()):
        response = api_client.delete(f"{SESSIONS}{target}/", **bearer(alice["access"]))
        assert response.status_code == 404 and response.json() == {"detail": "Not found."}
    assert api_client.delete(f"{SESSIONS}not-a-uuid/", **bearer(alice["access"])).status_code == 404
    assert refresh(api_client, bob["refresh"]).status_code == 200
    assert api_client.get(SESSIONS).status_code == 401


@pytest.mark.parametrize("order", ["owner-first", "thief-first"])
def test_a_rotated_refresh_token_presented_again_revokes_its_whole_session(api_client, make_user, login, order,
                                                                           caplog):  # fmt: skip
    make_user()
    other = login()  # another device: not part of the stolen session
    stolen = login()
    first = refresh(api_client, stolen["refresh"])  # the owner's use, or the thief's
    assert first.status_code == 200
    descendant = first.json()
    with caplog.at_level(logging.WARNING, logger="accounts"):
        second = refresh(api_client, stolen["refresh"])  # the other one comes second
    assert second.status_code == 401 and second.json()["detail"] == "Token is invalid or expired"
    # Every token of the family is dead now, whoever holds it ...
    assert refresh(api_client, descendant["refresh"]).status_code == 401
    assert me(api_client, descendant["access"]).status_code == 401
    assert me(api_client, stolen["access"]).status_code == 401
    # ... and nothing else.
    assert me(api_client, other["access"]).status_code == 200
    assert refresh(api_client, other["refresh"]).status_code == 200
    session = Session.objects.get(revoked_at__isnull=False)
    assert session.revoked_reason == "refresh_token_reused"
    assert revocations() == [("refresh_token_reused", str(session.id))]
    (record,) = [r for r in caplog.records if "reuse" in r.getMessage()]
    assert str(session.id) in record.getMessage() and str(session.user_id) in record.getMessage()


def test_a_refresh_token_of_an_ended_session_is_401_and_revokes_nothing_more(api_client, make_user, login):
    make_user()
    pair = login()
    api_client.post("/api/users/logout/", {"refresh": pair["refresh"]}, format="json", **bearer(pair["access"]))
    assert refresh(api_client, pair["refresh"]).status_code == 401
    assert revocations() == [("logout", str(Session.objects.get().id))]


def test_logout_ends_the_session_and_its_access_tokens(api_client, make_user, login):
    make_user()
    ending, staying = login(), login()
    response = api_client.post("/api/users/logout/", {"refresh": ending["refresh"]}, format="json",
                               **bearer(staying["access"]))  # fmt: skip
    assert response.json() == {"detail": "Logged out."}
    assert me(api_client, ending["access"]).status_code == 401
    assert refresh(api_client, ending["refresh"]).status_code == 401
    assert me(api_client, staying["access"]).status_code == 200


def test_logging_out_everywhere_ends_every_session_and_every_access_token(api_client, make_user, login):
    make_user(), make_user("bob@example.com")
    sessions, bob = [login() for _ in range(3)], login("bob@example.com")
    response = api_client.post("/api/users/logout/all/", **bearer(sessions[0]["access"]))
    assert response.status_code == 200 and response.json() == {"detail": "Logged out everywhere (3 session(s) ended)."}
    for pair in sessions:
        assert me(api_client, pair["access"]).status_code == 401
        assert refresh(api_client, pair["refresh"]).status_code == 401
    assert revocations() == [("logout_everywhere", None)]
    assert me(api_client, bob["access"]).status_code == 200
    assert me(api_client, login()["access"]).status_code == 200  # a new login is a new session
    assert api_client.post("/api/users/logout/all/").status_code == 401


def test_a_refresh_token_without_a_session_is_401(api_client, make_user, settings):
    """Tokens issued before sessions existed (no sid), or naming a session that does not."""
    from servicekit.testkit.tokens import forge_token

    user = make_user()
    base = {"token_type": "refresh", "user_id": str(user.id), "jti": uuid.uuid4().hex, "iat": 1, "exp": 4102444800,
            "iss": "user_service", "aud": "microservices"}  # fmt: skip
    for claims in (base, {**base, "sid": str(uuid.uuid4())}):
        assert refresh(api_client, forge_token(claims)).status_code == 401


def test_odd_user_agents_are_stored_within_bounds(api_client, make_user, login):
    make_user()
    pair = login(HTTP_USER_AGENT="x\x00" + "y" * 1000, REMOTE_ADDR="")
    session = Session.objects.get()
    assert len(session.user_agent) == 256 and "\x00" not in session.user_agent and session.ip_address is None
    assert api_client.get(SESSIONS, **bearer(pair["access"])).json()["results"][0]["ip_address"] is None


def test_an_operator_can_end_sessions_in_the_admin(api_client, client, make_user, login):
    make_user()
    pair = login()
    client.force_login(make_user("root@example.com", is_staff=True, is_superuser=True))
    listing = client.get("/admin/accounts/session/")
    assert listing.status_code == 200 and b"alice@example.com" in listing.content
    session = Session.objects.get(user__email="alice@example.com")
    response = client.post("/admin/accounts/session/", {"action": "end_sessions", "_selected_action": [session.id]})
    assert response.status_code == 302
    assert me(api_client, pair["access"]).status_code == 401
    assert refresh(api_client, pair["refresh"]).status_code == 401
    assert revocations() == [("session_revoked", str(session.id))]
