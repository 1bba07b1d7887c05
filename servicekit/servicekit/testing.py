"""Test helpers: token minting as user_service does it, key pairs, JWT mode switching."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import jwt as pyjwt
from decouple import undefined
from django.conf import settings
from rest_framework_simplejwt.backends import TokenBackend

from servicekit.jwt import JWTRole, simple_jwt_settings


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


def token_backend_for(role: JWTRole, **env: str) -> TokenBackend:
    """The TokenBackend a service with ``role`` gets from these JWT_* variables."""
    conf = simple_jwt_settings(role=role, env=fake_env(env), signing_key=env.get("JWT_SIGNING_KEY", ""))
    return TokenBackend(
        conf["ALGORITHM"],
        conf["SIGNING_KEY"],
        conf["VERIFYING_KEY"],
        conf["AUDIENCE"],
        conf["ISSUER"],
        None,
        conf["LEEWAY"],
    )


def mint_access_token(
    user_id: uuid.UUID | str | None = None, *, email: str = "someone@example.com", **claims: Any
) -> str:
    """An access token made the way user_service makes them, signed with this service's key."""
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = str(user_id or uuid.uuid4())
    token["email"] = email
    token["is_staff"] = False
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


class FakeMessage:
    """Stands in for ``confluent_kafka.Message`` when driving a consumer without a broker."""

    def __init__(self, value: bytes | None, *, topic: str = "post_events", partition: int = 0, offset: int = 0,
                 key: bytes | None = None, headers: list[tuple[str, bytes]] | None = None) -> None:  # fmt: skip
        self._value, self._topic, self._partition, self._offset = value, topic, partition, offset
        self._key, self._headers = key, headers

    def value(self) -> bytes | None:
        return self._value

    def key(self) -> bytes | None:
        return self._key

    def topic(self) -> str:
        return self._topic

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def headers(self) -> list[tuple[str, bytes]] | None:
        return self._headers

    def error(self) -> None:
        return None


def make_event(event_type: Any, *, user_id: uuid.UUID | str | None = None, subject: Any = None, **data: Any) -> Any:
    """An envelope as a producing service would emit it."""
    from servicekit.events import EventEnvelope, EventType

    event_type = EventType(event_type)
    user_id = str(user_id or uuid.uuid4())
    subject = str(subject or (user_id if event_type.topic.value == "user_events" else uuid.uuid4()))
    return EventEnvelope(source="tests", type=event_type, subject=subject, userid=user_id, data={"id": subject, **data})
