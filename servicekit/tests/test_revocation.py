"""Revoked access tokens: the events that revoke them, the table they fill, the copy every
process reads, and the 401 it leads to, with no query per request."""

import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from widgets.handlers import HANDLERS

from servicekit.consumer import EventConsumer
from servicekit.events import EventEnvelope
from servicekit.revocation import view as view_module
from servicekit.revocation.handlers import handle_token_revocations
from servicekit.revocation.models import Revocation
from servicekit.revocation.record import Revoked, retention, revocations_record
from servicekit.revocation.view import RevocationView, revocations
from servicekit.testkit.kafka import FakeMessage
from servicekit.testkit.tokens import mint_access_token

pytestmark = pytest.mark.django_db
WHOAMI = "/whoami/"


def revoked_event(user_id, not_before, session=None, **data):
    payload = {"id": str(user_id), "not_before": not_before, "session": session and str(session),
               "reason": "logout", **data}  # fmt: skip
    return EventEnvelope(source="user_service", type="user.sessions_revoked", subject=str(user_id),
                         userid=str(user_id), data=payload)  # fmt: skip


def deleted_event(user_id):
    return EventEnvelope(source="user_service", type="user.deleted", subject=str(user_id), userid=str(user_id),
                         data={"id": str(user_id)})  # fmt: skip


def rfc3339(moment):
    return moment.isoformat().replace("+00:00", "Z")


def consume(*events):
    """The events through the service's real handler table, as consume_events applies them."""
    from test_consumer import DeadLetters, OffsetRecorder

    messages = [FakeMessage(e.to_json(), topic="user_events", offset=i) for i, e in enumerate(events)]
    dead = DeadLetters()
    EventConsumer(HANDLERS, consumer=OffsetRecorder(), producer=dead).handle_batch(messages)
    return dead


def whoami(client, token):
    return client.get(WHOAMI, HTTP_AUTHORIZATION=f"Bearer {token}")


def test_tokens_issued_before_a_revocation_are_401_and_later_ones_are_not(api_client):
    alice, bob = uuid.uuid4(), uuid.uuid4()
    old, bobs = mint_access_token(alice), mint_access_token(bob)
    consume(revoked_event(alice, rfc3339(timezone.now())))
    refused = whoami(api_client, old)
    assert refused.status_code == 401 and refused.json() == {"detail": "Token has been revoked."}
    assert refused["WWW-Authenticate"].startswith("Bearer")
    assert whoami(api_client, mint_access_token(alice)).json() == {"user_id": str(alice)}
    assert whoami(api_client, bobs).status_code == 200  # someone else's tokens are theirs


def test_a_session_revoked_refuses_the_tokens_of_that_session_only(api_client):
    alice, ended, other = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    of_ended, of_other = mint_access_token(alice, sid=str(ended)), mint_access_token(alice, sid=str(other))
    consume(revoked_event(alice, rfc3339(timezone.now()), session=ended))
    assert whoami(api_client, of_ended).status_code == 401
    assert whoami(api_client, of_other).status_code == 200
    assert whoami(api_client, mint_access_token(alice)).status_code == 200


def test_a_deleted_user_has_every_earlier_token_refused(api_client):
    alice = uuid.uuid4()
    tokens = [mint_access_token(alice), mint_access_token(alice, sid=str(uuid.uuid4()))]
    consume(deleted_event(alice))
    assert [whoami(api_client, token).status_code for token in tokens] == [401, 401]


def test_revocations_to_the_microsecond(api_client):
    """A token issued a moment before the revocation is refused, one a moment after is not,
    within the same second."""
    alice = uuid.uuid4()
    moment = timezone.now().replace(microsecond=500_000)
    before = mint_access_token(alice, iat=(moment - timedelta(microseconds=1)).timestamp())
    at, after = (mint_access_token(alice, iat=m.timestamp()) for m in (moment, moment + timedelta(milliseconds=1)))
    consume(revoked_event(alice, rfc3339(moment)))
    assert [whoami(api_client, t).status_code for t in (before, at, after)] == [401, 200, 200]


def test_the_latest_revocation_wins_and_a_batch_is_two_statements():
    users = [uuid.uuid4() for _ in range(50)]
    now = timezone.now()
    events = [revoked_event(u, rfc3339(now)) for u in users]
    events += [revoked_event(users[0], rfc3339(now - timedelta(minutes=1)))]  # older, arriving later
    received = [type("R", (), {"event": e})() for e in events]
    with CaptureQueriesContext(connection) as queries:
        handle_token_revocations(received)
    assert len(queries) == 2  # the upsert and the purge
    assert Revocation.objects.count() == 50
    assert Revocation.objects.get(subject=users[0]).not_before == now


def test_revocations_that_no_longer_matter_are_deleted():
    stale = timezone.now() - retention() - timedelta(seconds=1)
    with transaction.atomic():
        revocations_record([Revoked(uuid.uuid4(), stale)])
        revocations_record([Revoked(uuid.uuid4(), timezone.now())])
    assert Revocation.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [{"not_before": "yesterday"}, {"not_before": "2026-01-01T00:00:00"}, {"not_before": 5}, {"session": "x"}],
    ids=["not-a-time", "no-offset", "not-a-string", "bad-session"],
)
def test_a_revocation_that_cannot_be_read_is_dead_lettered_and_the_rest_applied(data, settings):
    settings.KAFKA = {**settings.KAFKA, "HANDLER_ATTEMPTS": 1}
    alice, bob = uuid.uuid4(), uuid.uuid4()
    bad = revoked_event(alice, rfc3339(timezone.now()))
    bad.data.update(data)
    dead = consume(bad, revoked_event(bob, rfc3339(timezone.now())))
    assert len(dead.values) == 1 and b"handler failed" in dead.values[0][2]["dlq.error"]
    assert list(Revocation.objects.values_list("subject", flat=True)) == [bob]


def test_the_copy_is_read_once_per_interval_not_per_request(api_client, settings, monkeypatch):
    settings.REVOCATION = {"REFRESH_SECONDS": 1.0}
    clock = [1000.0]
    monkeypatch.setattr(view_module.time, "monotonic", lambda: clock[0])
    alice = uuid.uuid4()
    token = mint_access_token(alice)
    assert whoami(api_client, token).status_code == 200  # the first request reads
    consume(revoked_event(alice, rfc3339(timezone.now())))
    with CaptureQueriesContext(connection) as queries:
        assert all(whoami(api_client, token).status_code == 200 for _ in range(20))
    assert len(queries) == 0
    clock[0] += 1.0
    with CaptureQueriesContext(connection) as queries:
        assert whoami(api_client, token).status_code == 401
        assert whoami(api_client, token).status_code == 401
    assert len(queries) == 1


def test_rows_committed_out_of_version_order_are_not_missed(transactional_db):
    """A transaction that wrote first and commits last: a copy that has already read the later
    one still gets its row. (PostgreSQL: transaction ids; SQLite writes one at a time.)"""
    first, second = uuid.uuid4(), uuid.uuid4()
    wrote, commit = threading.Event(), threading.Event()

    def slow_writer():
        try:
            with transaction.atomic():
                revocations_record([Revoked(first, timezone.now())])
                wrote.set()
                commit.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow_writer)
    thread.start()
    assert wrote.wait(10)
    with transaction.atomic():
        revocations_record([Revoked(second, timezone.now())])
    copy = RevocationView()
    later = time.time() - 60  # a token issued before both revocations
    assert copy.revoked([second], later) and not copy.revoked([first], later)
    commit.set()
    thread.join(10)
    copy._due = 0.0  # the interval has passed
    assert copy.revoked([first], later)


def test_what_this_process_revokes_itself_counts_at_once(settings):
    settings.REVOCATION = {"REFRESH_SECONDS": 3600.0}
    alice = uuid.uuid4()
    assert not revocations().revoked([alice], time.time() - 1)
    revocations().note(alice, time.time())
    assert revocations().revoked([alice], time.time() - 1)
