"""The tokens every service reads: simplejwt's, with every claim the services rely on checked.

simplejwt checks the signature, ``iss``, ``aud``, expiry and ``token_type``, but trusts the
types of the claims: a correctly signed token with ``"exp": "soon"``, ``"exp": 10**12`` or
``"user_id": "admin"`` would make it (or the user lookup after it) raise a 500. Here any
such token is invalid (401), like a forged one. The types are those user_service issues.

``SIMPLE_JWT["AUTH_TOKEN_CLASSES"]`` names :class:`AccessToken`, so both roles' authentication
(``servicekit.revocation.authentication``) read tokens through it; user_service's refresh
tokens subclass :class:`RefreshToken`. Both sign and verify with :class:`KeyedTokenBackend`
(a ``kid`` per key, so that keys can be rotated: ``servicekit.jwt``).

``iat`` is required, since revocation compares it (``servicekit.revocation``), and the
tokens made here state it to the microsecond (RFC 7519 allows a fractional NumericDate):
a revocation at 12:00:00.6 must refuse a token issued at 12:00:00.3 and accept the new one
issued at 12:00:00.7, which whole seconds cannot tell apart.
"""

from __future__ import annotations

import base64
import enum
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import jwt as pyjwt
from django.conf import settings
from django.core.signals import setting_changed
from rest_framework.request import Request
from rest_framework_simplejwt import tokens
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenError

from servicekit.jwt import verifying_keys

#: The longest ``jti`` user_service stores (``Session.refresh_jti``).
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
    # The session (login) the token descends from (user_service's refresh token families).
    "sid": lambda value: isinstance(value, str) and _uuid(value),
}
REQUIRED_CLAIMS = ("exp", "iat", "jti", "token_type", "user_id")


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


class KeyedTokenBackend(TokenBackend):
    """simplejwt's backend with a ``kid``: signs with the current key and names it in the
    header; verifies with the key the token names, among the current and previous ones.

    A ``kid`` no configured key has is refused before any signature is checked. A token
    without one (issued before tokens carried it) is checked against the current key only.
    """

    def __init__(self, conf: dict[str, Any]) -> None:
        algorithm = conf["ALGORITHM"]
        keys = verifying_keys(conf)
        super().__init__(
            algorithm,
            conf["SIGNING_KEY"],
            conf["VERIFYING_KEY"],
            conf["AUDIENCE"],
            conf["ISSUER"],
            None,
            conf["LEEWAY"],
        )
        self.current_kid = next(iter(keys))
        self.prepared_keys = {kid: self._prepare_key(key) for kid, key in keys.items()}

    def encode(self, payload: dict[str, Any]) -> str:
        claims = {**payload, "aud": self.audience, "iss": self.issuer}
        return pyjwt.encode(claims, self.prepared_signing_key, algorithm=self.algorithm,
                            headers={"kid": self.current_kid})  # fmt: skip

    def get_verifying_key(self, token: Any) -> Any:
        kid = _unverified_header(token).get("kid", self.current_kid)
        if not isinstance(kid, str) or kid not in self.prepared_keys:
            raise TokenBackendError("Token is invalid")
        return self.prepared_keys[kid]


def _unverified_header(token: Any) -> dict[str, Any]:
    """The JOSE header of a compact JWS, decoded strictly (base64url alphabet, a JSON object).

    Only the header: it names the key to verify with, and ``pyjwt.decode`` then checks the
    whole token itself. (``pyjwt.get_unverified_header`` decodes and checks all three parts,
    which cost as much as the rest of the authentication together.)
    """
    segment = (token.decode("ascii", "replace") if isinstance(token, bytes) else str(token)).split(".", 1)[0]
    try:
        raw = base64.b64decode(segment.translate(_URLSAFE) + "=" * (-len(segment) % 4), validate=True)
        header = json.loads(raw)
    except ValueError as exc:  # binascii.Error, UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise TokenBackendError("Token is invalid") from exc
    if not isinstance(header, dict):
        raise TokenBackendError("Token is invalid")
    return header


_URLSAFE = str.maketrans("-_", "+/")


_backend: KeyedTokenBackend | None = None


def token_backend() -> KeyedTokenBackend:
    """The backend of ``settings.SIMPLE_JWT``, built once (again when a test changes it)."""
    global _backend
    if _backend is None:
        _backend = KeyedTokenBackend(settings.SIMPLE_JWT)
    return _backend


def _forget_backend(*, setting: str, **kwargs: Any) -> None:
    global _backend
    if setting == "SIMPLE_JWT":
        _backend = None


setting_changed.connect(_forget_backend)


class ServicekitToken:
    """Signed and verified by servicekit's backend, issued-at to the microsecond."""

    current_time: datetime
    payload: dict[str, Any]

    @property
    def token_backend(self) -> Any:
        return token_backend()

    def set_iat(self, claim: str = "iat", at_time: datetime | None = None) -> None:
        self.payload[claim] = (at_time or self.current_time).timestamp()


class AccessToken(CheckedClaims, ServicekitToken, tokens.AccessToken):
    pass


class RefreshToken(CheckedClaims, ServicekitToken, tokens.RefreshToken):
    access_token_class = AccessToken


def token_scopes(request: Request) -> frozenset[str]:
    """The scopes the request's access token grants (none without a token)."""
    token = request.auth
    return frozenset(token.get("scope", "").split()) if token is not None else frozenset()
