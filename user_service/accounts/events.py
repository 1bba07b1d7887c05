"""The events user_service publishes: its contract (docs/asyncapi.yaml is generated from it).

What user events carry: the account's id, nothing else. No other service needs an
account's email, display name or flags: user_service alone logs people in and would write
to them, and authorisation travels in tokens (scopes), not in events. The email stays in
this service's database, so deleting the account deletes it, and no copy of it is left on
a topic or in another service.
"""

import enum
from datetime import timedelta
from typing import Any

from accounts.models import User
from servicekit.events import TIMESTAMP, UUID, Topic, object_schema
from servicekit.outbox import snapshot

USER_EVENTS = Topic(
    "user_events",
    owner="user_service",
    key="the user's id",
    summary="Every change to an account, in order per account.",
    retention=timedelta(days=7),
    # A deleted account's last record is its user.deleted: a day later its earlier events
    # (when it signed up, each login) are compacted away; user.deleted stays until the
    # retention, so that a consumer up to a week behind still learns of the deletion.
    compaction_lag=timedelta(days=1),
)

USER_EVENT_FIELDS = ("id",)
USER = object_schema(id=UUID)

USER_REGISTERED = USER_EVENTS.event_type("user.registered", data=USER, summary="An account was created.")
USER_UPDATED = USER_EVENTS.event_type("user.updated", data=USER, summary="An account's email or display name changed.")
USER_LOGGED_IN = USER_EVENTS.event_type("user.logged_in", data=USER, summary="Someone logged in to the account.")
USER_SNAPSHOT = USER_EVENTS.event_type(
    "user.snapshot",
    data=USER,
    summary="The account as it is now, republished (manage.py republish) for consumers that need the current "
    "state: an upsert, keyed and ordered like the account's other events.",
)
USER_DELETED = USER_EVENTS.event_type(
    "user.deleted",
    data=USER,
    summary="The account was deleted: every service erases what it holds of the user, and refuses "
    "every token of the user issued before the event's time.",
)


class RevocationReason(enum.StrEnum):
    """Why sessions ended (``user.sessions_revoked``)."""

    LOGOUT = "logout"
    LOGOUT_EVERYWHERE = "logout_everywhere"
    SESSION_REVOKED = "session_revoked"
    REFRESH_TOKEN_REUSED = "refresh_token_reused"
    PASSWORD_CHANGED = "password_changed"
    PASSWORD_RESET = "password_reset"


USER_SESSIONS_REVOKED = USER_EVENTS.event_type(
    "user.sessions_revoked",
    data=object_schema(
        id=UUID,
        not_before=TIMESTAMP,
        session={"type": ["string", "null"], "format": "uuid"},
        reason={"type": "string", "enum": [reason.value for reason in RevocationReason]},
    ),
    summary="Tokens were revoked: every service refuses the access tokens of the user issued before "
    "not_before, or only those of one session when session is set (its other tokens are refused anyway, "
    "the session being over).",
)


def user_data(user: User) -> dict[str, Any]:
    return snapshot(user, USER_EVENT_FIELDS)
