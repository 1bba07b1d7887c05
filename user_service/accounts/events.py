"""The events user_service publishes: its contract (docs/asyncapi.yaml is generated from it).

What user events carry: the account's public representation, never a password or hash.
"""

from typing import Any

from accounts.models import User
from servicekit.events import TIMESTAMP, UUID, Topic, object_schema
from servicekit.resources import snapshot

USER_EVENTS = Topic(
    "user_events",
    owner="user_service",
    key="the user's id",
    summary="Every change to an account, in order per account.",
)

USER_EVENT_FIELDS = ("id", "email", "display_name", "date_joined", "is_staff")
USER = object_schema(
    id=UUID,
    email={"type": "string", "format": "email", "maxLength": 254},
    display_name={"type": "string", "maxLength": 150},
    date_joined=TIMESTAMP,
    is_staff={"type": "boolean"},
)

USER_REGISTERED = USER_EVENTS.event_type(
    "user.registered", data=USER, summary="An account was created; data is the account as the API shows it."
)
USER_UPDATED = USER_EVENTS.event_type(
    "user.updated", data=USER, summary="An account's email or display name changed; data is the account after it."
)
USER_LOGGED_IN = USER_EVENTS.event_type("user.logged_in", data=USER, summary="Someone logged in to the account.")
USER_SNAPSHOT = USER_EVENTS.event_type(
    "user.snapshot",
    data=USER,
    summary="The account as it is now, republished (manage.py republish) for consumers that need the current "
    "state: an upsert, keyed and ordered like the account's other events.",
)
USER_DELETED = USER_EVENTS.event_type(
    "user.deleted",
    data=object_schema(id=UUID),
    summary="The account was deleted: every service deletes what it holds of the user.",
)


def user_data(user: User) -> dict[str, Any]:
    return snapshot(user, USER_EVENT_FIELDS)
