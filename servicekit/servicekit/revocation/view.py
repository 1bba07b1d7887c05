"""The revocations as one process knows them: a copy of the table, kept up to date cheaply.

Every authenticated request asks :meth:`RevocationView.revoked`, a dictionary lookup. At
most every ``REVOCATION_REFRESH_SECONDS`` the request that asks first reads what changed
since the last read: one query, answered from an index.

"What changed" must not miss a row committed late. Versions are assigned when a row is
written and committed a little later, so a row with a lower version can appear after one
with a higher version was read: reading ``version > highest seen`` could skip it for good.
So, on PostgreSQL, each row carries the id of the transaction that wrote it, and each read
also takes the oldest transaction still running then (``pg_snapshot_xmin``): every later
commit has an id at least that, so the next read asks for ``version >= it``. Rows read
twice do no harm (the latest ``not_before`` wins). On SQLite one transaction writes at a
time and each row gets the highest version plus one, so versions are in commit order and
``version > highest seen`` is exact.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from servicekit.revocation.models import Revocation
from servicekit.revocation.record import retention

#: How often the copy forgets the revocations that no longer matter.
PRUNE_SECONDS = 60.0


class RevocationView:
    """This process's copy of the revocation table (``subject -> not_before``, as timestamps)."""

    def __init__(self) -> None:
        self._not_before: dict[uuid.UUID, float] = {}
        self._version: int | None = None
        self._due = 0.0
        self._pruned = time.monotonic()
        self._lock = threading.Lock()
        self.refreshes = 0

    def revoked(self, subjects: Iterable[uuid.UUID], issued_at: float) -> bool:
        """Whether a token of ``subjects`` issued at ``issued_at`` (a timestamp) is revoked."""
        self._refresh_if_due()
        return any(issued_at < self._not_before.get(subject, -math.inf) for subject in subjects)

    def note(self, subject: uuid.UUID, not_before: float) -> None:
        """Takes a revocation this process has just committed, before the next read would."""
        with self._lock:
            self._not_before[subject] = max(self._not_before.get(subject, -math.inf), not_before)

    def _refresh_if_due(self) -> None:
        if time.monotonic() < self._due:
            return
        with self._lock:
            if time.monotonic() < self._due:  # another thread has just read
                return
            self._read_changes()
            self._due = time.monotonic() + settings.REVOCATION["REFRESH_SECONDS"]

    def _read_changes(self) -> None:
        cutoff = timezone.now() - retention()
        if connection.vendor == "postgresql":
            rows, version = self._changes_postgresql(cutoff)
        else:
            rows, version = self._changes_sqlite(cutoff)
        for subject, not_before in rows:
            key = uuid.UUID(str(subject))
            self._not_before[key] = max(self._not_before.get(key, -math.inf), not_before.timestamp())
        self._version = version
        self.refreshes += 1
        if time.monotonic() - self._pruned > PRUNE_SECONDS:
            oldest = cutoff.timestamp()
            self._not_before = {s: t for s, t in self._not_before.items() if t >= oldest}
            self._pruned = time.monotonic()

    def _changes_postgresql(self, cutoff: datetime) -> tuple[list[tuple[Any, datetime]], int]:
        table = connection.ops.quote_name(Revocation._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT s.next, r.subject, r.not_before "
                "FROM (SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS next) AS s "
                f"LEFT JOIN {table} AS r ON r.version >= %s AND r.not_before >= %s",
                [self._version or 0, cutoff],
            )
            found = cursor.fetchall()
        return [(subject, not_before) for _, subject, not_before in found if subject is not None], found[0][0]

    def _changes_sqlite(self, cutoff: datetime) -> tuple[list[tuple[Any, datetime]], int]:
        found = list(
            Revocation.objects.filter(version__gt=self._version or 0, not_before__gte=cutoff).values_list(
                "subject", "not_before", "version"
            )
        )
        version = max([self._version or 0, *(v for _, _, v in found)])
        return [(subject, not_before) for subject, not_before, _ in found], version


_view = RevocationView()


def revocations() -> RevocationView:
    """This process's view (one per process: gunicorn forks its workers before any request)."""
    return _view


def reset() -> None:
    """A fresh, empty view (tests: each starts from its own database)."""
    global _view
    _view = RevocationView()
