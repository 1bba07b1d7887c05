"""Recording consumed events. Called by the consumer loop inside its transaction."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from activity.models import Event, UserActivity
from servicekit.consumer import Received
from servicekit.db import insert_rows

#: The events that move a user's counters of what exists now (types of the producers'
#: contracts, docs/asyncapi.yaml): counter and step.
COUNTED = {
    "post.created": ("posts", +1),
    "post.deleted": ("posts", -1),
    "note.created": ("notes", +1),
    "note.deleted": ("notes", -1),
}
ACCOUNT_DELETED = "user.deleted"
EVENT_COLUMNS = ("id", "type", "source", "subject", "user_id", "time", "data", "topic", "partition", "offset",
                 "received_at")  # fmt: skip


@dataclass
class Counter:
    """A counter moved by a sequence of steps, never below zero after any of them.

    From a start ``x`` the result is ``max(x + net, net - lowest)`` (``lowest``: the lowest
    running sum, 0 included), so a batch applies to any stored value in one expression.
    """

    net: int = 0
    lowest: int = 0

    def step(self, by: int) -> None:
        self.net += by
        self.lowest = min(self.lowest, self.net)

    @property
    def floor(self) -> int:
        return self.net - self.lowest


@dataclass
class Summary:
    posts: Counter
    notes: Counter
    events: int = 0
    last_at: datetime | None = None
    last_type: str = ""
    deleted: bool = False


def events_record(*, received: Sequence[Received]) -> None:
    """Stores the events and folds them into their users' summaries, in three statements
    for the whole batch (the events, then the users' summaries created if new and updated).

    The counters never go below zero, as if each event were applied alone; the last
    activity only moves forward, whatever order events of different partitions arrive in.
    Runs in the caller's transaction; concurrent consumers serialise on the summary rows.
    """
    now = timezone.now()
    insert_rows(Event, EVENT_COLUMNS, [
        (item.id, item.event.type, item.event.source, item.event.subject, item.event.userid,
         item.event.timestamp, json.dumps(item.event.data), item.delivery.topic, item.delivery.partition,
         item.delivery.offset, now)
        for item in received
    ])  # fmt: skip
    summaries: dict[uuid.UUID, Summary] = {}
    for item in received:
        event = item.event
        summary = summaries.setdefault(uuid.UUID(event.userid), Summary(Counter(), Counter()))
        if event.type in COUNTED:
            name, by = COUNTED[event.type]
            getattr(summary, name).step(by)
        summary.events += 1
        if summary.last_at is None or event.timestamp >= summary.last_at:
            summary.last_at, summary.last_type = event.timestamp, event.type
        summary.deleted |= event.type == ACCOUNT_DELETED
    users = sorted(summaries)  # one lock order for every consumer: no deadlocks between them
    columns = ("user_id", "posts", "notes", "events_seen", "last_activity_at", "last_event_type", "account_deleted")
    insert_rows(
        UserActivity, columns, [(user, 0, 0, 0, None, "", False) for user in users], skip_conflicts_on="user_id"
    )
    _fold(users, summaries)


def _fold(users: list[uuid.UUID], summaries: dict[uuid.UUID, Summary]) -> None:
    """One UPDATE of every user's summary from a VALUES list."""
    meta = UserActivity._meta
    postgres = connection.vendor == "postgresql"
    # PostgreSQL needs the VALUES' types spelled out; SQLite takes them as they come.
    casts = ["::uuid", "::int", "::int", "::int", "::int", "::int", "::timestamptz", "::varchar", "::boolean"]
    if not postgres:
        casts = [""] * len(casts)
    greatest = "GREATEST" if postgres else "MAX"
    row = "(" + ", ".join(f"%s{cast}" for cast in casts) + ")"
    params: list[object] = []
    for user in users:
        s = summaries[user]
        params += [
            meta.get_field("user_id").get_db_prep_value(user, connection),
            s.posts.net,
            s.posts.floor,
            s.notes.net,
            s.notes.floor,
            s.events,
            meta.get_field("last_activity_at").get_db_prep_value(s.last_at, connection),
            s.last_type,
            s.deleted,
        ]
    table = connection.ops.quote_name(meta.db_table)
    newer = "a.last_activity_at IS NULL OR v.last_at >= a.last_activity_at"
    sql = f"""
        WITH v(user_id, posts, posts_floor, notes, notes_floor, events, last_at, last_type, deleted) AS (
            VALUES {", ".join([row] * len(users))}
        )
        UPDATE {table} AS a SET
            posts = {greatest}(a.posts + v.posts, v.posts_floor),
            notes = {greatest}(a.notes + v.notes, v.notes_floor),
            events_seen = a.events_seen + v.events,
            last_event_type = CASE WHEN {newer} THEN v.last_type ELSE a.last_event_type END,
            last_activity_at = CASE WHEN {newer} THEN v.last_at ELSE a.last_activity_at END,
            account_deleted = a.account_deleted OR v.deleted
        FROM v WHERE a.user_id = v.user_id
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
