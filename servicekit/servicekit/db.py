"""Database helpers for service functions and batch handlers."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TypeVar

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)


def save_changes(instance: M, changes: dict[str, Any]) -> M:
    """Sets ``changes`` on ``instance`` and saves just those columns (plus ``auto_now`` ones).

    The caller owns the transaction.
    """
    for name, value in changes.items():
        setattr(instance, name, value)
    auto_now = [f.name for f in instance._meta.concrete_fields if getattr(f, "auto_now", False)]
    instance.save(update_fields=[*changes, *auto_now])
    return instance


def insert_rows(
    model: type[Model],
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    skip_conflicts_on: str | None = None,
) -> list[Any]:
    """Inserts ``rows`` (values in the order of ``columns``) in one statement; the hot path
    of a batch handler, without building a model instance per row.

    With ``skip_conflicts_on`` (a unique column), rows that would conflict on it are
    skipped (``ON CONFLICT DO NOTHING``) and the values of that column for the rows that
    went in are returned (``RETURNING``), as the database gives them. Values are given as
    Python values (UUIDs, aware datetimes, JSON text for JSON columns); they are adapted to
    the backend by the fields, except on PostgreSQL, which takes them as they are.
    Runs in the caller's transaction.
    """
    if not rows:
        return []
    meta = model._meta
    fields = [meta.get_field(name) for name in columns]
    params: list[Any] = []
    if connection.vendor == "postgresql":
        for row in rows:
            params += row
    else:
        for row in rows:
            params += [
                value if field.get_internal_type() == "JSONField" else field.get_db_prep_value(value, connection)
                for field, value in zip(fields, row, strict=True)
            ]
    quote = connection.ops.quote_name
    values = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(field.column) for field in fields)}) "
        f"VALUES {', '.join([values] * len(rows))}"
    )
    with connection.cursor() as cursor:
        if skip_conflicts_on is None:
            cursor.execute(sql, params)
            return []
        key = quote(meta.get_field(skip_conflicts_on).column)
        cursor.execute(f"{sql} ON CONFLICT ({key}) DO NOTHING RETURNING {key}", params)
        return [value for (value,) in cursor.fetchall()]
