"""Account changes leave through the outbox and reach ``user_events`` as CloudEvents."""

import pytest
from django.db import transaction

from accounts import services
from accounts.models import User
from conftest import PASSWORD
from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.events import assert_matches_contract
from servicekit.testkit.kafka import events_on, relay_pending

pytestmark = pytest.mark.django_db


def test_every_user_event_type_is_published_with_envelope_key_and_topic(api_client, signup, kafka):
    body = signup()
    user_id = body["user"]["id"]
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access']}"}
    api_client.post("/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    api_client.patch("/api/users/me/", {"display_name": "Alice"}, format="json", **auth)
    api_client.delete("/api/users/me/", **auth)

    rows = list(OutboxEvent.objects.order_by("id"))
    assert [r.event_type for r in rows] == ["user.registered", "user.logged_in", "user.updated", "user.deleted"]
    assert relay_pending() == 4
    messages = events_on("user_events", {str(r.event_id) for r in rows})
    for message in messages:
        assert_matches_contract(message.envelope, key=message.key, topic=message.topic)
    by_type = {m.envelope["type"]: m for m in messages}
    assert set(by_type) == {"user.registered", "user.logged_in", "user.updated", "user.deleted"}
    for message in messages:
        envelope = message.envelope
        assert message.key == user_id
        assert message.headers["content-type"] == b"application/cloudevents+json"
        assert envelope["specversion"] == "1.0" and envelope["source"] == "user_service"
        assert envelope["subject"] == user_id and envelope["userid"] == user_id
        assert envelope["datacontenttype"] == "application/json" and envelope["time"].endswith("Z")
    # The account's id and nothing else: no other service needs the email or the name.
    assert all(m.envelope["data"] == {"id": user_id} for m in messages)
    assert not any(secret in m.value for m in messages for secret in (b"alice", b"Alice", PASSWORD.encode()))
    # Per-key order: one aggregate, one partition, in the order of the changes.
    assert len({m.partition for m in messages}) == 1
    assert [m.envelope["type"] for m in sorted(messages, key=lambda m: m.offset)] == [r.event_type for r in rows]


def test_a_rolled_back_write_leaves_no_event(db):
    def failing_request() -> None:
        with transaction.atomic():
            services.user_signup(email="ghost@example.com", password=PASSWORD, client=services.Client())
            raise RuntimeError("the request failed after the write")

    with pytest.raises(RuntimeError):
        failing_request()
    assert not User.objects.exists() and not OutboxEvent.objects.exists()


def test_failed_signup_and_login_emit_nothing(api_client, signup):
    signup()
    OutboxEvent.objects.all().delete()
    api_client.post("/api/users/signup/", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    api_client.post("/api/users/login/", {"email": "alice@example.com", "password": "wrong"}, format="json")
    assert not OutboxEvent.objects.exists()


def test_emit_outside_a_transaction_is_refused(transactional_db):
    from accounts.events import USER_UPDATED
    from servicekit.outbox import emit

    with pytest.raises(RuntimeError, match=r"transaction\.atomic"):
        emit(USER_UPDATED, subject="x", user_id="y", data={})


def test_concurrent_deletes_of_an_account_announce_it_once(signup, transactional_db):
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from rest_framework.test import APIClient

    access = signup()["access"]

    def delete(_):
        client = APIClient()
        try:
            return client.delete("/api/users/me/", HTTP_AUTHORIZATION=f"Bearer {access}").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(4) as pool:
        statuses = sorted(pool.map(delete, range(4)))
    assert statuses[0] == 204 and set(statuses[1:]) == {401}
    assert OutboxEvent.objects.filter(event_type="user.deleted").count() == 1


def test_republish_writes_a_snapshot_of_each_account_as_it_is_now():
    from io import StringIO

    from django.core.management import call_command

    alice, _ = services.user_signup(email="alice@example.com", password=PASSWORD, client=services.Client())
    bob, _ = services.user_signup(email="bob@example.com", password=PASSWORD, client=services.Client())
    services.user_update(user=alice, client=services.Client(), display_name="Alice")
    services.user_delete(user=bob)
    out = StringIO()
    call_command("republish", stdout=out)
    assert out.getvalue().splitlines()[-1].startswith("republished 1 users as user.snapshot")
    [row] = OutboxEvent.objects.filter(event_type="user.snapshot")
    assert_matches_contract(row.payload, key=str(alice.id), topic="user_events")
    assert row.payload["data"] == {"id": str(alice.id)}  # what user events carry: the id, no personal data
    out = StringIO()
    call_command("republish", "--user", str(bob.id), stdout=out)  # gone: nothing to snapshot
    assert out.getvalue().splitlines() == ["republished 0 users as user.snapshot (in the outbox: the relay "
                                           "publishes them)"]  # fmt: skip


def test_revocations_reach_user_events_as_the_contract_declares(api_client, signup, kafka):
    body = signup()
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access']}"}
    api_client.post("/api/users/logout/", {"refresh": body["refresh"]}, format="json", **auth)
    login = api_client.post("/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    api_client.post("/api/users/logout/all/", HTTP_AUTHORIZATION=f"Bearer {login.json()['access']}")
    rows = list(OutboxEvent.objects.filter(event_type="user.sessions_revoked").order_by("id"))
    assert relay_pending() >= 2
    messages = sorted(events_on("user_events", {str(r.event_id) for r in rows}), key=lambda m: m.offset)
    for message in messages:
        assert_matches_contract(message.envelope, key=message.key, topic=message.topic)
    session_ended, everywhere = (m.envelope["data"] for m in messages)
    assert (session_ended["reason"], everywhere["reason"]) == ("logout", "logout_everywhere")
    assert session_ended["session"] and everywhere["session"] is None
    assert session_ended["not_before"] < everywhere["not_before"] and everywhere["not_before"].endswith("Z")
    assert "email" not in session_ended and "password" not in str(messages[0].value)
