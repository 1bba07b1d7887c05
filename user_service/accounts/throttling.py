"""Rate limits counted in the database, so that they hold across every worker and process.

:func:`attempts_begin` records an attempt under each of its keys *before* the guarded work
runs, and refuses it (429) if that takes any key over its limit. Recording first closes
the race where many parallel requests all pass a check before any is counted: each
request counts its own row and every row committed before it. Keys are hashed: the table
holds no email addresses, and any input fits its column.

Two kinds of guard are built on it:

- a DRF throttle per client address, :class:`AddressThrottle` (every POST to the view
  counts, whatever its outcome): :class:`SignupThrottle`, and a subclass like it for any
  other endpoint that must not be called in bulk from one address (password-reset
  requests, say);
- limits inside a service function, where the key is known only after validation: failed
  logins per email and per address (:func:`login_attempt_begin`).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Count, Min, Q
from django.utils import timezone
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from accounts.models import ThrottleAttempt

LOGIN_THROTTLED = "Too many failed login attempts. Try again later."


def throttle_key(kind: str, value: str) -> str:
    """The key of ``kind`` of attempt (``"signup-ip"``) by ``value`` (an address, an email)."""
    return f"{kind}:{hashlib.sha256(value.encode()).hexdigest()}"


@dataclass(frozen=True)
class Limit:
    """At most ``count`` attempts under ``key`` within ``seconds``."""

    key: str
    count: int
    seconds: int


def attempts_begin(limits: list[Limit], *, detail: str) -> list[int]:
    """Counts one attempt under every limit's key; raises Throttled (with the seconds until
    the limit lifts, and ``detail``) when that takes any of them over its count.

    A refused attempt is not counted. Returns the ids of the attempt's rows, for
    :func:`attempts_forget`; left alone, they count until their window passes.
    """
    now = timezone.now()
    ThrottleAttempt.objects.filter(expires_at__lte=now).delete()  # keeps the table small
    rows = ThrottleAttempt.objects.bulk_create(
        ThrottleAttempt(key=limit.key, created_at=now, expires_at=now + timedelta(seconds=limit.seconds))
        for limit in limits
    )
    counting = reduce(or_, (Q(key=lim.key, created_at__gt=now - timedelta(seconds=lim.seconds)) for lim in limits))
    counts = ThrottleAttempt.objects.filter(counting).values("key").annotate(n=Count("id"), oldest=Min("created_at"))
    by_key = {limit.key: limit for limit in limits}
    waits = [
        (row["oldest"] + timedelta(seconds=by_key[row["key"]].seconds) - now).total_seconds()
        for row in counts
        if row["n"] > by_key[row["key"]].count
    ]
    if waits:
        attempts_forget([row.id for row in rows])
        raise Throttled(wait=max(1.0, max(waits)), detail=detail)
    return [row.id for row in rows]


def attempts_forget(ids: list[int]) -> None:
    """Uncounts an attempt (the rows :func:`attempts_begin` returned)."""
    ThrottleAttempt.objects.filter(id__in=ids).delete()


def client_address(request: Request) -> str:
    """The client's address as DRF's throttles see it (``NUM_PROXIES`` deep in X-Forwarded-For)."""
    return BaseThrottle().get_ident(request) or ""


class AddressThrottle(BaseThrottle):
    """At most ``limit()`` requests to a view per client address, counted in the database.

    Subclasses name their ``kind`` (part of the key) and ``detail``, and read their limit
    from settings. Only the methods that do the work count (an OPTIONS is no sign-up). Over
    the limit it raises Throttled itself, so the 429 says ``detail``.
    """

    kind: str
    detail: str
    methods: tuple[str, ...] = ("POST",)

    def limit(self) -> tuple[int, int]:
        """``(count, seconds)``."""
        raise NotImplementedError

    def allow_request(self, request: Request, view: APIView) -> bool:
        if request.method not in self.methods:
            return True
        count, seconds = self.limit()
        key = throttle_key(self.kind, client_address(request))
        attempts_begin([Limit(key, count, seconds)], detail=self.detail)
        return True


class SignupThrottle(AddressThrottle):
    kind = "signup-ip"
    detail = "Too many sign-ups from this address. Try again later."

    def limit(self) -> tuple[int, int]:
        return settings.SIGNUP_MAX_PER_ADDRESS, settings.SIGNUP_WINDOW_SECONDS


def login_attempt_begin(*, email: str, address: str) -> list[int]:
    """Counts a login attempt (per email and per address) before its password is checked.

    Rows of a failed attempt stay: they are the failures the limits count.
    """
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    limits = [
        Limit(throttle_key("email", email), settings.LOGIN_MAX_FAILURES_PER_EMAIL, window),
        Limit(throttle_key("ip", address), settings.LOGIN_MAX_FAILURES_PER_ADDRESS, window),
    ]
    return attempts_begin(limits, detail=LOGIN_THROTTLED)


def login_attempt_succeeded(*, email: str, attempt: list[int]) -> None:
    """The password was right: this attempt is no failure, and the email's count starts again
    (the address's does not: one good account must not reset guessing from that address)."""
    attempts_forget(attempt)
    email_attempts_forget(email=email)


def email_attempts_forget(*, email: str) -> None:
    """Uncounts every failed login of ``email``."""
    ThrottleAttempt.objects.filter(key=throttle_key("email", email)).delete()
