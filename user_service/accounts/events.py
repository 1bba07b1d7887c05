"""What user events carry: the account's public representation (never a password hash)."""

from typing import Any

from accounts.models import User
from servicekit.resources import snapshot

USER_EVENT_FIELDS = ("id", "email", "display_name", "date_joined", "is_staff")


def user_data(user: User) -> dict[str, Any]:
    return snapshot(user, USER_EVENT_FIELDS)
