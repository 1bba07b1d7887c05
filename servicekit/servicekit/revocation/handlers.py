"""The handler every verifying service registers in its table (``<app>/handlers.py``)::

    HANDLERS.independent("user_events", "user.sessions_revoked", "user.deleted")(handle_token_revocations)

The types are user_service's (its contract, ``accounts/events.py``): ``user.sessions_revoked``
carries ``not_before`` (RFC 3339) and the ``session`` it ends (null: every session of the
user); ``user.deleted`` revokes every token of the user issued before the event's time.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from servicekit.consumer import Received
from servicekit.events import EventEnvelope
from servicekit.revocation.record import Revoked, revocations_record

SESSIONS_REVOKED = "user.sessions_revoked"
USER_DELETED = "user.deleted"
#: What a verifier's table must send to :func:`handle_token_revocations` (a system check says so).
REVOKING_TYPES = (SESSIONS_REVOKED, USER_DELETED)


def handle_token_revocations(received: list[Received]) -> None:
    """Records the revocations of a batch in one statement (plus the purge).

    Raises ValueError or KeyError for a ``user.sessions_revoked`` without a valid
    ``not_before``: the loop retries, then dead-letters it.
    """
    revocations_record(revocation_of(item.event) for item in received)


def revocation_of(event: EventEnvelope) -> Revoked:
    if event.type == USER_DELETED:
        return Revoked(uuid.UUID(event.subject), event.timestamp)
    not_before = datetime.fromisoformat(event.data["not_before"].replace("Z", "+00:00"))
    if not_before.tzinfo is None:
        raise ValueError("not_before has no UTC offset (RFC 3339 requires one)")
    session = event.data.get("session")
    return Revoked(uuid.UUID(session) if session else uuid.UUID(event.subject), not_before)
