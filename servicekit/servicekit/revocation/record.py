"""Writing revocations: one statement for a whole batch, in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection
from django.utils import timezone

from servicekit.revocation.models import Revocation


@dataclass(frozen=True)
class Revoked:
    """The tokens of ``subject`` (a user or a session id) issued before ``not_before``."""

    subject: uuid.UUID
    not_before: datetime


def retention() -> timedelta:
    """How long a revocation matters: after it, every token issued before it has expired."""
    jwt = settings.SIMPLE_JWT
    return jwt["ACCESS_TOKEN_LIFETIME"] + timedelta(seconds=jwt["LEEWAY"])


def revocations_record(revoked: Iterable[Revoked]) -> None:
    """Stores ``revoked`` (a later ``not_before`` wins, an earlier one changes nothing) and
    deletes the revocations that no longer matter: two statements, however many there are.

    Each written row gets a ``version`` that orders it after every row committed before it
    (the copies in every process rely on it, see ``servicekit.revocation.view``): on
    PostgreSQL the writing transaction's id, on SQLite (one writer at a time) the highest
    version plus one. Runs in the caller's transaction.
    """
    latest: dict[uuid.UUID, datetime] = {}
    for item in revoked:
        subject = uuid.UUID(str(item.subject))
        if subject not in latest or item.not_before > latest[subject]:
            latest[subject] = item.not_before
    if not latest:
        return
    meta = Revocation._meta
    table = connection.ops.quote_name(meta.db_table)
    postgres = connection.vendor == "postgresql"
    if postgres:
        version, greatest = "pg_current_xact_id()::text::bigint", "GREATEST"
    else:
        version, greatest = f"(SELECT COALESCE(MAX(version), 0) + 1 FROM {table})", "MAX"
    params: list[object] = []
    for subject, not_before in latest.items():
        params += [
            meta.get_field("subject").get_db_prep_value(subject, connection),
            meta.get_field("not_before").get_db_prep_value(not_before, connection),
        ]
    rows = ", ".join([f"(%s, %s, {version})"] * len(latest))
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (subject, not_before, version) VALUES {rows} "
            f"ON CONFLICT (subject) DO UPDATE SET not_before = {greatest}({table}.not_before, excluded.not_before), "
            "version = excluded.version",
            params,
        )
    Revocation.objects.filter(not_before__lt=timezone.now() - retention()).delete()
