"""Deleting an account erases the person, provably: after the cascade, no database of any
service, no topic and no log line holds their email, their name or anything they wrote.

The broker here is Tansu, which keeps every message (it enforces no retention and no
compaction), so what remains on the topics is checked against what the contract says may
remain there (ids and times) and against the retention the topics are configured with;
Apache Kafka enforces that retention (README, "What stays on the topics").
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import jwt
import psycopg2
import requests
import yaml
from confluent_kafka.admin import AdminClient, ConfigResource, ResourceType

from servicekit.devstack.contract import DOCUMENT as CONTRACT
from servicekit.devstack.launcher import SERVICES
from servicekit.testkit.erasure import columns_containing, forms_of
from servicekit.testkit.kafka import read_topic
from tests.e2e.conftest import PASSWORD, eventually
from tests.e2e.stack import JWT_KEY

DAY, WEEK = str(24 * 3600 * 1000), str(7 * 24 * 3600 * 1000)
KEPT_A_WEEK = {"cleanup.policy": "delete", "retention.ms": WEEK, "segment.ms": DAY}
#: The retention of every topic, as the README documents it.
COMPACTED_AFTER_A_DAY = {"cleanup.policy": "compact,delete", "min.compaction.lag.ms": DAY, "max.compaction.lag.ms": DAY}
DOCUMENTED_RETENTION = {
    "user_events": {**KEPT_A_WEEK, **COMPACTED_AFTER_A_DAY},
    "post_events": KEPT_A_WEEK,
    "note_events": KEPT_A_WEEK,
    "post_service.dlq": KEPT_A_WEEK,
    "note_service.dlq": KEPT_A_WEEK,
    "consumer_service.dlq": KEPT_A_WEEK,
}
#: What an event of a post or a note may say: which one, whose, when.
OBJECT_EVENT_FIELDS = {"id", "user_id", "created_at", "updated_at"}


def receivers_of(topic: str, event_type: str) -> list[str]:
    """The services whose consumer handles ``event_type``, as the contract says."""
    document = yaml.safe_load(CONTRACT.read_text())
    message = {"$ref": f"#/channels/{topic}/messages/{event_type}"}
    return sorted(
        name.partition(".receive.")[0]
        for name, operation in document["operations"].items()
        if operation["action"] == "receive" and message in operation["messages"]
    )


@contextmanager
def database(stack, directory: str) -> Iterator[psycopg2.extensions.cursor]:
    connection = psycopg2.connect(stack.env[f"{directory.upper()}_DATABASE_URL"])
    connection.autocommit = True
    try:
        with connection.cursor() as cursor:
            yield cursor
    finally:
        connection.close()


def found_in_databases(stack, text: str) -> dict[str, list[tuple[str, str, str]]]:
    """Where ``text`` (as it is or inside base64) is, in every service's database."""
    found = {}
    for spec in SERVICES:
        with database(stack, spec.directory) as cursor:
            found[spec.directory] = columns_containing(cursor, forms_of(text))
    return found


def values(stack, directory: str, sql: str, *params) -> list:
    with database(stack, directory) as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def test_deleting_an_account_erases_the_person_from_every_database_topic_and_log(stack, new_user):
    marker = uuid.uuid4().hex[:12]  # in the email, the name and everything written: what is searched for
    person = new_user(f"erase-{marker}@example.com")
    bystander_marker = uuid.uuid4().hex[:12]
    bystander = new_user(f"stay-{bystander_marker}@example.com")
    kept = bystander.call("POST", "post", "/api/posts/", json={"title": f"Kept {bystander_marker}"}).json()

    # Everything a person leaves behind: a profile, a login, posts and notes written, changed
    # and deleted, a search.
    assert person.call("PATCH", "user", "/api/users/me/", json={"display_name": f"Name {marker}"}).ok
    login = requests.post(f"{stack.url('user')}/api/users/login/", json={"email": person.email, "password": PASSWORD},
                          timeout=10)  # fmt: skip
    assert login.status_code == 200
    remaining = {}  # kind: the ids the cascade deletes
    for kind, url, text_field in (("post", "/api/posts/", "description"), ("note", "/api/notes/", "content")):
        made = [person.call("POST", kind, url, json={"title": f"{kind} {marker} {i}", text_field: f"text {marker}"})
                .json()["id"] for i in range(3)]  # fmt: skip
        assert person.call("PATCH", kind, f"{url}{made[0]}/", json={text_field: f"changed {marker}"}).ok
        assert person.call("DELETE", kind, f"{url}{made[1]}/").status_code == 204
        remaining[kind] = [made[0], made[2]]
    assert person.call("GET", "post", f"/api/posts/?search={marker}&count=true").json()["count"] == 2

    def all_recorded():  # consumer_service holds all 13 of them: erasing has something to do
        assert person.call("GET", "consumer", "/api/events/?page_size=100&count=true").json()["count"] == 13

    eventually(all_recorded)
    assert found_in_databases(stack, marker)["consumer_service"] == []  # the events never carried it
    assert person.call("DELETE", "user", "/api/users/me/").status_code == 204
    revoked = person.access
    # What the services still answer about the person, asked with a token issued after the
    # deletion (user_service would never issue one; the test holds the key): their earlier
    # tokens are refused everywhere.
    claims = jwt.decode(revoked, options={"verify_signature": False})
    access = jwt.encode({**claims, "iat": time.time(), "jti": uuid.uuid4().hex}, JWT_KEY, algorithm="HS256")

    def cascade_done():
        # post_service and note_service deleted the content and published their deletes, and
        # consumer_service has applied the user's deletion and those deletes after it.
        for kind, directory in (("post", "post_service"), ("note", "note_service")):
            assert person.call("GET", kind, f"/api/{kind}s/").status_code == 401  # revoked
            after = requests.get(f"{stack.url(kind)}/api/{kind}s/?count=true", timeout=10,
                                 headers={"Authorization": f"Bearer {access}"})  # fmt: skip
            assert after.json()["count"] == 0
            assert values(stack, directory, "SELECT count(*) FROM outbox_outboxevent") == [0]
            published = "SELECT event_id::text FROM outbox_publishedevent WHERE event_type = %s AND key = ANY(%s)"
            deletes = values(stack, directory, published, f"{kind}.deleted", remaining[kind])
            processed = "SELECT event_id::text FROM inbox_processedevent WHERE event_id::text = ANY(%s)"
            applied = values(stack, "consumer_service", processed, deletes)
            assert len(deletes) == 2 and sorted(applied) == sorted(deletes)
        assert person.call("GET", "consumer", "/api/activity/me/").status_code == 401  # revoked
        activity = requests.get(f"{stack.url('consumer')}/api/activity/me/", timeout=10,
                                headers={"Authorization": f"Bearer {access}"})  # fmt: skip
        assert activity.json()["account_deleted"]

    eventually(cascade_done, timeout=30)

    # Every text and JSON column of every service's database: nothing of the person.
    assert found_in_databases(stack, marker) == {spec.directory: [] for spec in SERVICES}
    headers = {"Authorization": f"Bearer {access}"}
    events = requests.get(f"{stack.url('consumer')}/api/events/?count=true", headers=headers, timeout=10).json()
    assert events["count"] == 0
    for table in ("activity_event", "activity_useractivity"):
        count = f"SELECT count(*) FROM {table} WHERE user_id = %s"  # noqa: S608 - the two names above
        assert values(stack, "consumer_service", count, person.id) == [0], table
    # What is left of them is their id, a pseudonym of an account that no longer exists, in
    # every service that receives user.deleted (docs/asyncapi.yaml).
    for directory in receivers_of("user_events", "user.deleted"):
        assert values(stack, directory, "SELECT count(*) FROM inbox_deleteduser WHERE user_id = %s", person.id) == [1]

    # Nothing is lost for anyone else; their content is where it is owned, and only there.
    assert bystander.call("GET", "post", f"/api/posts/{kept['id']}/").status_code == 200
    assert {directory: [table for table, _, _ in found] for directory, found in
            found_in_databases(stack, bystander_marker).items()} == {
        **{spec.directory: [] for spec in SERVICES}, "user_service": ["accounts_user"], "post_service": ["posts_post"]
    }  # fmt: skip
    assert bystander.call("GET", "consumer", "/api/events/?count=true").json()["count"] == 2  # registered, post.created

    # The topics: configured with the documented retention; what they still hold of the
    # person is what the contract allows (ids and times), never the person.
    admin = AdminClient({"bootstrap.servers": stack.broker.bootstrap_servers})
    described = admin.describe_configs([ConfigResource(ResourceType.TOPIC, t) for t in DOCUMENTED_RETENTION])
    for resource, future in described.items():
        config = {key: entry.value for key, entry in future.result().items()}
        assert config.items() >= DOCUMENTED_RETENTION[resource.name].items(), resource.name
    forms = [form.encode() for form in forms_of(marker)]
    for topic in DOCUMENTED_RETENTION:
        messages = read_topic(topic, bootstrap_servers=stack.broker.bootstrap_servers)
        carrying = [m for m in messages if any(f in (m.value or b"") + repr(m.headers).encode() for f in forms)]
        assert carrying == [], topic
        theirs = [m.envelope for m in messages if m.value and m.envelope.get("userid") == person.id]
        if topic == "user_events":
            assert theirs and all(e["data"] == {"id": person.id} for e in theirs)
            # The last record of their key: compaction leaves that one only, a day on.
            assert theirs[-1]["type"] == "user.deleted"
        elif topic.endswith("_events"):
            # Created 3, changed 1, deleted 1, and the cascade's 2 deletes (a relay may repeat one).
            assert len(theirs) >= 7 and all(set(e["data"]) <= OBJECT_EVENT_FIELDS for e in theirs), topic

    # No process of the stack logged any of it either (the search is in a request line).
    for name in stack.processes:
        log = stack.log(name)
        assert not any(form in log for form in forms_of(marker)), name
    assert "/api/posts/?search=*&count=* 200" in stack.log("web-post")
