"""Small database helpers for service functions."""

from typing import Any, TypeVar

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
