"""Per-user resources on PostgreSQL: a create is one round trip, and still no object
outlives its owner's deletion, however the two interleave."""

import threading
import time
import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.exceptions import AuthenticationFailed
from widgets.models import Widget
from widgets.services import WIDGETS, widget_create

from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.events import assert_matches_contract

pytestmark = pytest.mark.django_db(transaction=True)  # the one-round-trip path runs outside a transaction


def wait_until(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline
        time.sleep(0.005)


def test_a_create_is_one_round_trip_that_writes_the_row_and_its_event():
    user = uuid.uuid4()
    with CaptureQueriesContext(connection) as queries:
        widget = widget_create(user_id=user, title="one trip")
    assert len(queries) == 1
    stored = Widget.objects.get(id=widget.id)
    assert (stored.user_id, stored.title, stored.created_at) == (user, "one trip", widget.created_at)
    [row] = OutboxEvent.objects.all()
    assert_matches_contract(row.payload, key=row.key, topic=row.topic)
    assert row.payload["data"] == {"id": str(widget.id), "user_id": str(user), "title": "one trip",
                                   "created_at": widget.created_at.isoformat().replace("+00:00", "Z"),
                                   "updated_at": widget.updated_at.isoformat().replace("+00:00", "Z")}  # fmt: skip


def test_a_deleted_users_create_is_refused_and_writes_nothing():
    user = uuid.uuid4()
    WIDGETS.delete_all_of_users([user])
    with pytest.raises(AuthenticationFailed, match="deleted"):
        widget_create(user_id=user, title="too late")
    assert not Widget.objects.exists() and not OutboxEvent.objects.exists()


def test_creates_racing_the_deletion_of_their_owner_leave_nothing_behind():
    """Writers keep creating while the cascade runs: each create either lands before the
    cascade (and is deleted by it, with its event) or is refused after it."""
    user = uuid.uuid4()
    created, refused, stop = [], [], threading.Event()

    def writer():
        try:
            while not stop.is_set():
                try:
                    created.append(widget_create(user_id=user, title="racing").id)
                except AuthenticationFailed:
                    refused.append(1)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer) for _ in range(3)]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(created) >= 20)
    WIDGETS.delete_all_of_users([user])
    wait_until(lambda: len(refused) >= 20)
    stop.set()
    for thread in threads:
        thread.join(10)
    assert not Widget.objects.filter(user_id=user).exists()
    deleted = set(OutboxEvent.objects.filter(event_type="widget.deleted").values_list("key", flat=True))
    assert deleted == {str(widget_id) for widget_id in created}  # every one that landed, announced gone


def test_a_connection_the_database_dropped_fails_one_request_with_a_503_then_recovers():
    """No health check per request (a round trip each): a dropped connection costs the
    request that meets it a 503 saying why, and the worker reconnects for the next."""
    import http.client

    from servicekit.testkit.service import gunicorn_serving
    from servicekit.testkit.tokens import mint_access_token

    auth = {"Authorization": f"Bearer {mint_access_token(uuid.uuid4())}"}

    def get(address):
        client = http.client.HTTPConnection(*address, timeout=10)
        client.request("GET", "/api/widgets/", headers=auth)
        response = client.getresponse()
        return response.status, dict(response.getheaders()), response.read()

    with gunicorn_serving() as address:
        assert get(address)[0] == 200
        with connection.cursor() as cursor:  # the database drops every other connection
            cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE datname = current_database() AND pid <> pg_backend_pid()")  # fmt: skip
        status, headers, body = get(address)
        assert status == 503 and b"database" in body and headers["Retry-After"] == "1"
        assert get(address)[0] == 200
