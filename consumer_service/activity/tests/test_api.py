import uuid

import pytest
from rest_framework.test import APIClient

from activity.services import events_record
from servicekit.consumer import Delivery, Received
from servicekit.testkit.kafka import make_event, topic_of
from servicekit.testkit.service import assert_openapi_schema_valid
from servicekit.testkit.tokens import mint_access_token

pytestmark = pytest.mark.django_db


def client_for(user_id, **claims):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {mint_access_token(user_id, **claims)}")
    return client


def record(event_type, user_id, **kwargs):
    event = make_event(event_type, user_id=user_id, **kwargs)
    events_record(received=[Received(event, Delivery(topic_of(event_type), 0, 0))])
    return event


@pytest.fixture
def alice():
    return uuid.uuid4()


def test_events_are_the_callers_newest_first_filterable_and_paginated(alice):
    bob = uuid.uuid4()
    mine = [record(t, alice) for t in ["user.registered", "post.created", "note.created", "post.created"]]
    record("post.created", bob)
    client = client_for(alice)
    body = client.get("/api/events/?count=true").json()
    assert body["count"] == 4
    assert [e["id"] for e in body["results"]] == [e.id for e in reversed(mine)]
    assert set(body["results"][0]) == {"id", "type", "source", "subject", "user_id", "time", "data", "topic",
                                        "partition", "offset", "received_at"}  # fmt: skip
    posts = client.get("/api/events/?type=post.created&count=true").json()
    assert posts["count"] == 2 and {e["type"] for e in posts["results"]} == {"post.created"}
    assert client.get("/api/events/?page_size=1").json()["next"]


def test_the_type_filter_takes_any_type_and_refuses_what_is_not_one(alice):
    record("post.archived", alice)  # recorded although no producer of this project declares it
    assert client_for(alice).get("/api/events/?type=post.archived&count=true").json()["count"] == 1
    assert client_for(alice).get("/api/events/?type=post.exploded&count=true").json()["count"] == 0
    response = client_for(alice).get("/api/events/?type=Not%20A%20Type")
    assert response.status_code == 400 and "type" in response.json()


@pytest.mark.parametrize("query", ["type=", "type=%00", "type=post.created&type=note.created"])
def test_an_empty_repeated_or_nul_type_filter_is_400(alice, query):
    response = client_for(alice).get(f"/api/events/?{query}")
    assert response.status_code == 400 and set(response.json()) == {"type"}


def test_is_staff_in_a_token_opens_nothing(alice):
    record("post.created", alice)
    record("post.created", uuid.uuid4())
    assert client_for(alice, is_staff=True).get("/api/events/?count=true").json()["count"] == 1
    assert (
        client_for(uuid.uuid4(), is_staff=True, is_superuser=True).get("/api/events/?count=true").json()["count"] == 0
    )


@pytest.mark.parametrize(
    "scope, sees", [("events:read-all", 2), ("openid events:read-all", 2), ("events:read", 0),
                    ("events:read-all-x", 0), ("EVENTS:READ-ALL", 0), ("", 0)],
)  # fmt: skip
def test_only_the_events_read_all_scope_shows_everyones_events(alice, scope, sees):
    record("post.created", alice)
    record("note.created", uuid.uuid4())
    assert client_for(uuid.uuid4(), scope=scope).get("/api/events/?count=true").json()["count"] == sees
    others_notes = 1 if sees else 0
    assert (
        client_for(alice, scope=scope).get("/api/events/?type=note.created&count=true").json()["count"] == others_notes
    )


@pytest.mark.parametrize("scope", [["events:read-all"], {"events:read-all": True}, 1, True, None])
def test_a_scope_claim_that_is_not_a_string_is_401(alice, scope):
    response = client_for(alice, scope=scope).get("/api/events/")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert "scope" in str(response.json())


def test_activity_me(alice):
    empty = client_for(alice).get("/api/activity/me/").json()
    assert empty == {"user_id": str(alice), "posts": 0, "notes": 0, "events_seen": 0, "last_activity_at": None,
                     "last_event_type": "", "account_deleted": False}  # fmt: skip
    record("post.created", alice)
    record("note.created", alice)
    summary = client_for(alice).get("/api/activity/me/").json()
    assert (summary["posts"], summary["notes"], summary["events_seen"]) == (1, 1, 2)


def test_a_deleted_user_with_a_still_valid_token_finds_nothing_but_that_the_account_is_deleted(alice):
    record("user.registered", alice)
    record("post.created", alice)
    record("user.deleted", alice, subject=alice)
    record("post.deleted", alice)  # the cascade, after the deletion
    client = client_for(alice)
    assert client.get("/api/events/?count=true").json()["count"] == 0
    assert client.get("/api/activity/me/").json() == {
        "user_id": str(alice), "posts": 0, "notes": 0, "events_seen": 0, "last_activity_at": None,
        "last_event_type": "", "account_deleted": True}  # fmt: skip
    assert client_for(uuid.uuid4(), scope="events:read-all").get("/api/events/?count=true").json()["count"] == 0


@pytest.mark.parametrize("url", ["/api/events/", "/api/activity/me/"])
def test_anonymous_is_401(url):
    response = APIClient().get(url)
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")


def test_health_and_schema():
    client = APIClient()
    assert client.get("/healthz").status_code == 200 and client.get("/readyz").status_code == 200
    paths = client.get("/api/schema/?format=json").json()["paths"]
    assert "/api/events/" in paths and "/api/activity/me/" in paths
    assert {"200", "400", "401", "404"} <= set(paths["/api/events/"]["get"]["responses"])
    assert_openapi_schema_valid()
