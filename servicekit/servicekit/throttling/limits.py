"""Limits on attempts, counted in the database (see ``servicekit.throttling``)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING

from django.db.models import Count, Min, Q
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from servicekit.throttling.models import ThrottleAttempt

if TYPE_CHECKING:  # the views' module imports all of DRF's machinery: not at startup
    from rest_framework.views import APIView


def throttle_key(kind: str, *values: str) -> str:
    """The key of ``kind`` of attempt (``"signup-ip"``) by ``values`` (an address, an email...)."""
    return f"{kind}:{hashlib.sha256(chr(0).join(values).encode()).hexdigest()}"


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


def attempts_clear(*keys: str) -> None:
    """Forgets every attempt counted under ``keys``."""
    ThrottleAttempt.objects.filter(key__in=keys).delete()


def client_address(request: Request | HttpRequest) -> str:
    """The client's address as DRF's throttles see it: ``REMOTE_ADDR``, which
    ``servicekit.proxies`` takes from X-Forwarded-For only behind ``TRUSTED_PROXIES``."""
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
