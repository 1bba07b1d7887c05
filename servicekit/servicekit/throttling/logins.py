"""Failed password checks, limited so that a neighbour cannot turn the limit against you.

Every password check counts under three limits (settings, see ``.env.example``):

- per account and client address (``LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS`` within
  ``LOGIN_FAILURE_WINDOW_SECONDS``, 5 in 5 minutes): the one a guesser meets first. It locks
  out that guesser only, never the account's owner somewhere else;
- per account (``LOGIN_MAX_FAILURES_PER_EMAIL`` within ``LOGIN_EMAIL_FAILURE_WINDOW_SECONDS``,
  50 an hour): slower, against guessing spread over many addresses. Locking an account out
  with it takes that many failures an hour from ten addresses at least;
- per client address (``LOGIN_MAX_FAILURES_PER_ADDRESS`` within
  ``LOGIN_FAILURE_WINDOW_SECONDS``, 100 in 5 minutes): against one address trying many
  accounts, high enough that the people behind one NAT do not lock each other out.

A right password uncounts its own attempt and clears the account's failures from that
address; the per-account and per-address counts stay (an attacker's good guess at one
account must not reset their count, and a good login must not reset everyone's).
"""

from __future__ import annotations

import hashlib

from django.conf import settings

from servicekit.throttling.limits import Limit, attempts_begin, attempts_clear, attempts_forget, throttle_key

LOGIN_THROTTLED = "Too many failed login attempts. Try again later."


PAIR_KIND = "login-email-ip"


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _pair_key(account: str, address: str) -> str:
    # The account's part first, so that all of its keys can be found (and forgotten) by it.
    return f"{PAIR_KIND}:{_digest(account)}{_digest(address)}"


def login_attempt_begin(*, account: str, address: str) -> list[int]:
    """Counts a password check for ``account`` (a normalised email or user name) from
    ``address`` before the password is checked; raises Throttled (429) over any limit.

    Rows of a failed attempt stay: they are the failures the limits count.
    """
    window, email_window = settings.LOGIN_FAILURE_WINDOW_SECONDS, settings.LOGIN_EMAIL_FAILURE_WINDOW_SECONDS
    limits = [
        Limit(_pair_key(account, address), settings.LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS, window),
        Limit(throttle_key("email", account), settings.LOGIN_MAX_FAILURES_PER_EMAIL, email_window),
        Limit(throttle_key("ip", address), settings.LOGIN_MAX_FAILURES_PER_ADDRESS, window),
    ]
    return attempts_begin(limits, detail=LOGIN_THROTTLED)


def login_attempts_forget(*, account: str) -> None:
    """Forgets every failure counted for ``account``, from any address (a deleted account's)."""
    from servicekit.throttling.models import ThrottleAttempt

    attempts_clear(throttle_key("email", account))
    ThrottleAttempt.objects.filter(key__startswith=f"{PAIR_KIND}:{_digest(account)}").delete()


def login_attempt_succeeded(*, account: str, address: str, attempt: list[int]) -> None:
    """The password was right: this attempt is no failure, and the account's failures from
    this address are forgotten."""
    attempts_forget(attempt)
    attempts_clear(_pair_key(account, address))
