"""Failed-login throttle, counted in the database so it holds across all workers."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Min
from django.utils import timezone
from rest_framework.exceptions import Throttled

from accounts.models import LoginFailure


def _keys(*, email: str, address: str) -> dict[str, int]:
    return {
        f"email:{email}": settings.LOGIN_MAX_FAILURES_PER_EMAIL,
        f"ip:{address}": settings.LOGIN_MAX_FAILURES_PER_ADDRESS,
    }


def login_throttle_check(*, email: str, address: str) -> None:
    """Raises :class:`Throttled` (with the seconds until it lifts) if either key is over its limit."""
    window = timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)
    now = timezone.now()
    limits = _keys(email=email, address=address)
    rows = (
        LoginFailure.objects.filter(key__in=limits, created_at__gt=now - window)
        .values("key")
        .annotate(n=Count("id"), oldest=Min("created_at"))
    )
    waits = [(row["oldest"] + window - now).total_seconds() for row in rows if row["n"] >= limits[row["key"]]]
    if waits:
        raise Throttled(wait=max(1.0, max(waits)), detail="Too many failed login attempts. Try again later.")


def login_failure_record(*, email: str, address: str) -> None:
    now = timezone.now()
    LoginFailure.objects.bulk_create(
        LoginFailure(key=key, created_at=now) for key in _keys(email=email, address=address)
    )
    # Rows past the window no longer count; pruning here keeps the table small.
    LoginFailure.objects.filter(created_at__lt=now - timedelta(seconds=settings.LOGIN_FAILURE_WINDOW_SECONDS)).delete()


def login_failures_clear(*, email: str) -> None:
    """After a successful login the email's count starts again (the address's does not)."""
    LoginFailure.objects.filter(key=f"email:{email}").delete()
