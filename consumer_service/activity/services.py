"""Recording consumed events, and forgetting deleted users. Called by the consumer loop
inside its transaction."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import connection
from django.utils import timezone

from activity.models import Event, KnownObject, UserActivity
from servicekit.consumer import Received
from servicekit.db import execute, insert_rows, present, together, update_rows, upsert_rows
from servicekit.events import canonical_uuid
from servicekit.inbox.models import DeletedUser

#: Events that say an object exists (types of the producers' contracts, docs/asyncapi.yaml),
#: with the counter it is in; a snapshot is one (republished current state).
EXISTS = {
    "post.created": "posts",
    "post.updated": "posts",
    "post.snapshot": "posts",
    "note.created": "notes",
    "note.updated": "notes",
    "note.snapshot": "notes",
}
#: Events that say an object is gone.
GONE = {"post.deleted": "posts", "note.deleted": "notes"}
ACCOUNT_DELETED = "user.deleted"
#: The advisory lock (PostgreSQL) that serialises erasing users with recording events.
ERASURE_LOCK = 0x65726173  # "eras"
SUMMARY_COLUMNS = ("user_id", "posts", "notes", "events_seen", "last_activity_at", "last_event_type")
EVENT_COLUMNS = ("id", "type", "source", "subject", "user_id", "time", "data", "topic", "partition", "offset",
                 "received_at")  # fmt: skip


@dataclass
class Summary:
    counts: Counter[str] = field(default_factory=Counter)
    events: int = 0
    last_at: datetime | None = None
    last_type: str = ""


def events_record(*, received: Sequence[Received]) -> None:
    """Stores the events and folds them into their users' summaries; forgets the users
    whose ``user.deleted`` is among them. A constant number of statements for the batch:
    the erasure if any; the events; the objects they say exist or are gone
    (:class:`KnownObject`); the users' summaries (an upsert, and an update for the counts
    a batch takes away).

    A deleted user is forgotten: their stored events, objects and summary are deleted,
    their id is kept (a ``DeletedUser`` row: an id, not the person), and every later event
    of theirs (the cascade's ``post.deleted``, a redelivery, a replay, a snapshot) is not
    stored, whatever its type. A counter moves only when an object is first heard of (+1)
    or first heard to be gone (-1), so snapshots, replays and events out of order never
    count twice, and counters never go below zero. The last activity only moves forward,
    whatever order events of different partitions arrive in. Runs in the caller's
    transaction; concurrent consumers serialise on the rows they touch, always in the
    same order, and on :data:`ERASURE_LOCK` with a batch that erases.
    """
    with together():  # what returns nothing travels with the next statement: 3 to 5 round trips, not 5 to 8
        _record(received)


def _record(received: Sequence[Received]) -> None:
    now = timezone.now()
    deleted = sorted({uuid.UUID(item.event.subject) for item in received if item.event.type == ACCOUNT_DELETED})
    # Users by their canonical ids (PostgreSQL's spelling), so one user is one summary row.
    owner_of = {item.event.userid: canonical_uuid(item.event.userid) for item in received}
    _erasure_lock(exclusive=bool(deleted))
    if deleted:
        users_erase(user_ids=deleted)
    erased = {canonical_uuid(str(user)) for user in present(DeletedUser, "user_id", set(owner_of.values()))}
    kept = [item for item in received if owner_of[item.event.userid] not in erased]
    insert_rows(Event, EVENT_COLUMNS, [
        (item.id, item.event.type, item.event.source, item.event.subject, item.event.userid,
         item.event.timestamp, item.event.data, item.delivery.topic, item.delivery.partition,
         item.delivery.offset, now)
        for item in kept
    ])  # fmt: skip
    summaries: dict[str, Summary] = {}
    for item in kept:
        event = item.event
        summary = summaries.setdefault(owner_of[event.userid], Summary())
        summary.events += 1
        if summary.last_at is None or event.timestamp >= summary.last_at:
            summary.last_at, summary.last_type = event.timestamp, event.type
    for user, kind, step in _object_changes(kept, owner_of):
        summaries.setdefault(user, Summary()).counts[kind] += step
    # In user order, one lock order for every consumer: no deadlocks between them.
    ordered = sorted(summaries.items())
    added = {"posts": "{old}.posts + {new}.posts", "notes": "{old}.notes + {new}.notes"}
    newer = "{old}.last_activity_at IS NULL OR {new}.last_activity_at >= {old}.last_activity_at"
    # What the batch adds, in one upsert; what it takes away, after, on the rows it holds by
    # then (a proposed row must pass the counters' checks, so it carries no negative count).
    upsert_rows(UserActivity, SUMMARY_COLUMNS, [
        (user, max(s.counts["posts"], 0), max(s.counts["notes"], 0), s.events, s.last_at, s.last_type)
        for user, s in ordered
    ], key="user_id", updates={
        **added,
        "events_seen": "{old}.events_seen + {new}.events_seen",
        "last_event_type": f"CASE WHEN {newer} THEN {{new}}.last_event_type ELSE {{old}}.last_event_type END",
        "last_activity_at": f"CASE WHEN {newer} THEN {{new}}.last_activity_at ELSE {{old}}.last_activity_at END",
    })  # fmt: skip
    taken = [(user, min(s.counts["posts"], 0), min(s.counts["notes"], 0))
             for user, s in ordered if any(step < 0 for step in s.counts.values())]  # fmt: skip
    update_rows(UserActivity, ("user_id", "posts", "notes"), taken, key="user_id", updates=added)


def users_erase(*, user_ids: Sequence[uuid.UUID]) -> None:
    """Forgets these users: their events, objects and summaries are deleted, their ids
    recorded as deleted. Four statements, however many users and events. Idempotent."""
    DeletedUser.objects.bulk_create([DeletedUser(user_id=user_id) for user_id in user_ids], ignore_conflicts=True)
    for model in (Event, KnownObject, UserActivity):
        model.objects.filter(user_id__in=user_ids).delete()


def _erasure_lock(*, exclusive: bool) -> None:
    """Until the transaction ends: shared by batches that only record, exclusive for one
    that erases (PostgreSQL; SQLite runs one write transaction at a time anyway).

    Without it, a batch of another consumer process that read no ``DeletedUser`` row for a
    user before an erasure committed could store that user's events after it. A batch
    takes the one mode it needs at once, never upgrading, so two batches cannot deadlock.
    """
    if connection.vendor == "postgresql":
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        execute(f"SELECT {function}(%s)", [ERASURE_LOCK], returns_rows=False)


def _object_changes(received: Sequence[Received], owner_of: dict[str, str]) -> list[tuple[str, str, int]]:
    """(user, counter, +1 or -1) for each object of the batch first heard of, or first heard
    to be gone: three statements, in subject order. ``owner_of``: canonical user ids."""
    exists: dict[str, tuple[str, str]] = {}
    gone: dict[str, tuple[str, str]] = {}
    for item in received:
        event = item.event
        if event.type in EXISTS:
            exists.setdefault(event.subject, (owner_of[event.userid], EXISTS[event.type]))
        elif event.type in GONE:
            gone.setdefault(event.subject, (owner_of[event.userid], GONE[event.type]))
    alive = sorted(subject for subject in exists if subject not in gone)
    columns = ("subject", "user_id", "kind", "deleted")
    new = insert_rows(KnownObject, columns, [(s, *exists[s], False) for s in alive], skip_conflicts_on="subject")
    changes = [(*exists[subject], +1) for subject in new]
    if gone:
        table = connection.ops.quote_name(KnownObject._meta.db_table)
        subjects = sorted(gone)
        gone_now = execute(
            f"UPDATE {table} SET deleted = %s WHERE subject IN ({', '.join(['%s'] * len(subjects))})"
            " AND NOT deleted RETURNING user_id, kind",
            [True, *subjects],
            returns_rows=True,
        )
        changes += [(canonical_uuid(str(user)), kind, -1) for user, kind in gone_now]
        # Tombstones for the objects never heard of before: a late event about them counts nothing.
        insert_rows(KnownObject, columns, [(s, *gone[s], True) for s in subjects], skip_conflicts_on="subject")
    return changes


def activity_forget_everything() -> None:
    """Empties the read model (for a rebuild from the topics), but not the deleted users: an
    erased user's events still on the topics must stay forgotten. Runs in the caller's
    transaction."""
    for model in (Event, KnownObject, UserActivity):
        model.objects.all().delete()
