"""Tokens for tests: minted the way user_service makes them, forged for attacks, key pairs."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import jwt as pyjwt
from decouple import undefined
from django.conf import settings

from servicekit.jwt import JWTRole, simple_jwt_settings
from servicekit.tokens import KeyedTokenBackend


@cache
def rsa_keypair() -> tuple[str, str]:
    """A fresh 2048-bit RSA key pair as (private PEM, public PEM), one per test run."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


def fake_env(values: dict[str, str]) -> Callable[..., Any]:
    """A stand-in for decouple's ``config`` reading only ``values`` (then defaults)."""

    def env(name: str, default: Any = undefined, cast: Any = undefined) -> Any:
        if name in values:
            return cast(values[name]) if cast is not undefined else values[name]
        return default

    return env


def token_backend_for(role: JWTRole, **env: str) -> KeyedTokenBackend:
    """The token backend a service with ``role`` gets from these JWT_* variables."""
    return KeyedTokenBackend(simple_jwt_settings(role=role, env=fake_env(env)))


def mint_access_token(
    user_id: uuid.UUID | str | None = None, *, email: str = "someone@example.com", **claims: Any
) -> str:
    """An access token made the way user_service makes them, signed with this service's key."""
    from servicekit.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = str(user_id or uuid.uuid4())
    token["email"] = email
    for name, value in claims.items():
        token[name] = value
    return str(token)


def forge_token(payload: dict[str, Any], *, key: str | None = None, algorithm: str = "HS256", **headers: Any) -> str:
    """A token signed outside simplejwt: for attacks (wrong key, tampered claims, alg none)."""
    return pyjwt.encode(
        payload,
        key if key is not None else settings.SIMPLE_JWT["SIGNING_KEY"],
        algorithm=algorithm,
        headers=headers or None,
    )


#: Claims of a correctly signed token that must make it invalid (401), never a 500:
#: ``(test id, claims to change)``; ``...`` removes a claim (see :func:`with_claims`).
MALFORMED_CLAIMS: list[tuple[str, dict[str, Any]]] = [
    ("exp-year-33658", {"exp": 10**12}),
    ("exp-huge-int", {"exp": 10**400}),
    ("exp-string", {"exp": "4102444800"}),
    ("exp-word", {"exp": "soon"}),
    ("exp-infinity", {"exp": float("inf")}),
    ("exp-nan", {"exp": float("nan")}),
    ("exp-bool", {"exp": True}),
    ("exp-null", {"exp": None}),
    ("no-exp", {"exp": ...}),
    ("iat-string", {"iat": "yesterday"}),
    ("iat-future", {"iat": 10**12}),
    ("no-iat", {"iat": ...}),
    ("nbf-string", {"nbf": "now"}),
    ("nbf-future", {"nbf": 10**12}),
    ("user-id-not-uuid", {"user_id": "not-a-uuid"}),
    ("user-id-int", {"user_id": 42}),
    ("user-id-list", {"user_id": ["00000000-0000-0000-0000-000000000001"]}),
    ("user-id-object", {"user_id": {"id": 1}}),
    ("user-id-null", {"user_id": None}),
    ("no-user-id", {"user_id": ...}),
    ("token-type-list", {"token_type": ["access"]}),
    ("token-type-int", {"token_type": 1}),
    ("jti-int", {"jti": 5}),
    ("jti-list", {"jti": ["x"]}),
    ("jti-empty", {"jti": ""}),
    ("jti-too-long", {"jti": "x" * 300}),
    ("no-jti", {"jti": ...}),
    ("sid-not-uuid", {"sid": "session-1"}),
    ("sid-int", {"sid": 7}),
    ("scope-list", {"scope": ["events:read-all"]}),
    ("scope-object", {"scope": {"events:read-all": True}}),
]


def with_claims(claims: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``claims`` with ``changes`` applied; ``...`` as a value removes that claim."""
    changed = {**claims, **changes}
    return {name: value for name, value in changed.items() if value is not ...}
