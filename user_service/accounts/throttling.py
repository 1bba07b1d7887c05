"""Failed-login throttle, counted in the database so it holds across all workers.

Every login attempt is recorded, for the email and for the client address, *before* the
password is checked; the attempt is refused (429) if that takes either count over its
limit, and its rows are removed again if the password was right. Recording first closes
the race where many parallel guesses all pass the check before any is counted: each
request counts its own row and every row committed before it. Keys are hashed: the table
holds no email addresses, and any input fits its column.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from rest_framework.exceptions import Throttled

from accounts.models import LoginAttempt

THROTTLED = "Too many failed login attempts. Try again later."


def _key(kind: str, value: str) -> str:
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


def _limits(*, email: str, address: str) -> dict[str, int]:
    return {
        _key("email", email): settings.LOGIN_MAX_FAILURES_PER_EMAIL,
        _key("ip", address): settings.LOGIN_MAX_FAILURES_PER_ADDRESS,
    }


def login_attempt_begin(*, email: str, address: str) -> list[int]:
    """Counts this attempt; raises Throttled (with the seconds until it lifts) over a limit.

    Returns the ids of the attempt's rows, for :func:`login_attempt_succeeded`. Rows of
    a failed attempt stay: they are the failures the limits count.
    """
    now = timezone.now()
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    limits = _limits(email=email, address=address)
    # Rows past the window no longer count; pruning here keeps the table small.
    LoginAttempt.objects.filter(created_at__lt=now - window).delete()
    rows = LoginAttempt.objects.bulk_create(LoginAttempt(key=key, created_at=now) for key in limits)
    counts = (
        LoginAttempt.objects.filter(key__in=limits, created_at__gt=now - window)
        .values("key")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    waits = [(row["oldest"] + window - now).total_seconds() for row in counts if row["n"] > limits[row["key"]]]
    if waits:
        LoginAttempt.objects.filter(id__in=[row.id for row in rows]).delete()  # a refused attempt is no failure
        raise Throttled(wait=max(1.0, max(waits)), detail=THROTTLED)
    return [row.id for row in rows]


def login_attempt_succeeded(*, email: str, attempt: list[int]) -> None:
    """The password was right: this attempt is no failure, and the email's count starts again
    (the address's does not: one good account must not reset guessing from that address)."""
    LoginAttempt.objects.filter(id__in=attempt).delete()
    LoginAttempt.objects.filter(key=_key("email", email)).delete()
