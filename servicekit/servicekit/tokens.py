"""The tokens every service reads: simplejwt's, with every claim the services rely on checked.

simplejwt checks the signature, ``iss``, ``aud``, expiry and ``token_type``, but trusts the
types of the claims: a correctly signed token with ``"exp": "soon"``, ``"exp": 10**12`` or
``"user_id": "admin"`` would make it (or the user lookup after it) raise a 500. Here any
such token is invalid (401), like a forged one. The types are those user_service issues.

``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]`` names :class:`AccessToken`, so both roles' authentication
(``JWTAuthentication`` in the issuer, ``JWTStatelessUserAuthentication`` in the verifiers)
read tokens through it; user_service's refresh tokens subclass :class:`RefreshToken`.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Any

from rest_framework.request import Request
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.exceptions import TokenError

#: The longest ``jti`` the blacklist stores (``OutstandingToken.jti``).
MAX_JTI_LENGTH = 255


class Scope(enum.StrEnum):
    """What an access token's ``scope`` claim (space-separated, RFC 9068) may grant beyond
    the caller's own data. user_service decides who gets which (``accounts.tokens``)."""

    #: consumer_service: ``GET /api/events/`` lists every user's events, not only the caller's.
    EVENTS_READ_ALL = "events:read-all"


def _numeric_date(value: Any) -> bool:
    """An RFC 7519 NumericDate that is also a representable instant."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        datetime.fromtimestamp(value, tz=UTC)  # NaN, infinity and years past 9999 raise
    except (OverflowError, OSError, ValueError):
        return False
    return True


def _uuid(value: Any) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


#: The claims the services or simplejwt read, and what each must be when present.
CLAIM_CHECKS = {
    "exp": _numeric_date,
    "jti": lambda value: isinstance(value, str) and 0 < len(value) <= MAX_JTI_LENGTH,
    "token_type": lambda value: isinstance(value, str),
    "user_id": lambda value: isinstance(value, str) and _uuid(value),
    "iat": _numeric_date,
    "nbf": _numeric_date,
    "scope": lambda value: isinstance(value, str),
}
REQUIRED_CLAIMS = ("exp", "jti", "token_type", "user_id")


class CheckedClaims:
    """Refuses (``TokenError``, so 401) a token whose claims do not have their types."""

    payload: dict[str, Any]

    def verify(self) -> None:
        for claim in REQUIRED_CLAIMS:
            if claim not in self.payload:
                raise TokenError(f"Token has no '{claim}' claim")
        for claim, valid in CLAIM_CHECKS.items():
            if claim in self.payload and not valid(self.payload[claim]):
                raise TokenError(f"Token has an invalid '{claim}' claim")
        super().verify()  # type: ignore[misc]


class AccessToken(CheckedClaims, tokens.AccessToken):
    pass


class RefreshToken(CheckedClaims, tokens.RefreshToken):
    access_token_class = AccessToken


def token_scopes(request: Request) -> frozenset[str]:
    """The scopes the request's access token grants (none without a token)."""
    token = request.auth
    return frozenset(token.get("scope", "").split()) if token is not None else frozenset()
