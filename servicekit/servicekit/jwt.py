"""JWT configuration for the issuer (user_service) and the verifiers (everyone else).

HS256 with a shared ``JWT_SIGNING_KEY`` is the zero-setup default. With
``JWT_ALGORITHM=RS256`` only user_service holds ``JWT_PRIVATE_KEY``; every service gets
``JWT_PUBLIC_KEY``. A verifier in RS256 mode has no signing key at all, so it cannot
mint tokens. Keys are PEM text (``\\n`` escapes allowed, for one-line env files) or a
path to a PEM file.

Key rotation: every token names its key in a ``kid`` header, and verifiers hold the
current key and the previous ones (``JWT_PREVIOUS_SIGNING_KEYS``, or
``JWT_PREVIOUS_PUBLIC_KEYS`` with RS256), picking the one the token names: the issuer signs
with the new key while tokens signed with an old one stay valid until they expire. A
token naming a key nobody configured is invalid; one without a ``kid`` (issued before
tokens had one) is checked against the current key only. The backend that does it is
``servicekit.tokens.KeyedTokenBackend``; this module is what the settings read.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any

from django.core.exceptions import ImproperlyConfigured

HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
#: RSA only: the JWKS endpoint publishes RSA keys.
RSA_ALGORITHMS = ("RS256", "RS384", "RS512")


class JWTRole(enum.Enum):
    #: user_service: signs tokens; authentication looks the user up in its database.
    ISSUER = "issuer"
    #: post/note/consumer: verify locally; ``request.user`` is a TokenUser (no DB hit).
    VERIFIER = "verifier"

    @property
    def authentication_class(self) -> str:
        """Both refuse revoked tokens too (``servicekit.revocation``), without a query per request."""
        if self is JWTRole.ISSUER:
            return "servicekit.revocation.authentication.IssuerJWTAuthentication"
        return "servicekit.revocation.authentication.VerifierJWTAuthentication"


def read_key(value: str) -> str:
    """PEM text as given, with ``\\n`` escapes expanded, or the contents of a PEM file."""
    value = value.strip()
    if not value:
        return ""
    if value.startswith("-----BEGIN"):
        return value.replace("\\n", "\n")
    path = Path(value)
    if not path.is_file():
        raise ImproperlyConfigured(f"JWT key is neither PEM text nor a readable file: {value!r}")
    return path.read_text()


def read_keys(value: str) -> list[str]:
    """A comma-separated list of keys (a PEM has no comma), each as :func:`read_key` reads it."""
    return [read_key(part) for part in value.split(",") if part.strip()]


def is_asymmetric(algorithm: str) -> bool:
    return algorithm in RSA_ALGORITHMS


def simple_jwt_settings(*, role: JWTRole, env: Callable[..., Any]) -> dict[str, Any]:
    """``SIMPLE_JWT`` for ``role`` from the ``JWT_*`` variables.

    Raises ImproperlyConfigured for an unsupported algorithm or a missing key. There is no
    default key: ``servicekit.checks`` also refuses weak and published ones at startup.
    ``PREVIOUS_VERIFYING_KEYS`` (servicekit's, simplejwt ignores it) holds the keys that
    still verify tokens after a rotation: HMAC secrets, or RSA public keys.
    """
    algorithm = env("JWT_ALGORITHM", default="HS256")
    if algorithm not in (*HMAC_ALGORITHMS, *RSA_ALGORITHMS):
        supported = ", ".join((*HMAC_ALGORITHMS, *RSA_ALGORITHMS))
        raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm!r} is not supported; use one of {supported}.")
    if is_asymmetric(algorithm):
        verifying_key = read_key(env("JWT_PUBLIC_KEY", default=""))
        if not verifying_key:
            raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm} needs JWT_PUBLIC_KEY.")
        signing_key = read_key(env("JWT_PRIVATE_KEY", default="")) if role is JWTRole.ISSUER else ""
        if role is JWTRole.ISSUER and not signing_key:
            raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY in the issuer.")
        previous = read_keys(env("JWT_PREVIOUS_PUBLIC_KEYS", default=""))
    else:
        signing_key = env("JWT_SIGNING_KEY", default="")
        if not signing_key:
            raise ImproperlyConfigured(
                "JWT_SIGNING_KEY is not set. `make run` generates a development key by itself; otherwise set "
                "it in the environment or in .env (`make env` writes one with fresh secrets)."
            )
        verifying_key = ""
        previous = [key.strip() for key in env("JWT_PREVIOUS_SIGNING_KEYS", default="").split(",") if key.strip()]
    return {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": signing_key,
        "VERIFYING_KEY": verifying_key,
        "PREVIOUS_VERIFYING_KEYS": previous,
        "ISSUER": env("JWT_ISSUER", default="user_service"),
        "AUDIENCE": env("JWT_AUDIENCE", default="microservices"),
        "LEEWAY": env("JWT_LEEWAY_SECONDS", default=0, cast=int),
        "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env("JWT_ACCESS_TTL_MINUTES", default=15, cast=int)),
        "REFRESH_TOKEN_LIFETIME": timedelta(days=env("JWT_REFRESH_TTL_DAYS", default=1, cast=int)),
        "ROTATE_REFRESH_TOKENS": True,
        "BLACKLIST_AFTER_ROTATION": True,
        "UPDATE_LAST_LOGIN": False,
        "USER_ID_FIELD": "id",
        "USER_ID_CLAIM": "user_id",
        "AUTH_HEADER_TYPES": ("Bearer",),
        # Checks the types of the claims too (a malformed one is a 401, never a 500).
        "AUTH_TOKEN_CLASSES": ("servicekit.tokens.AccessToken",),
        "TOKEN_TYPE_CLAIM": "token_type",
        "JTI_CLAIM": "jti",
    }


# -- key ids ----------------------------------------------------------------------------------


def hmac_kid(secret: str) -> str:
    """The ``kid`` of an HMAC secret: 16 hex digits of its SHA-256. It names the key without
    telling anything about it: a token's own signature already gives more to whoever would
    guess a weak key offline."""
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@cache
def rsa_jwk(public_key_pem: str, algorithm: str) -> dict[str, Any]:
    """The public JWK of ``public_key_pem``, its ``kid`` the RFC 7638 thumbprint."""
    from jwt.algorithms import RSAAlgorithm

    jwk = json.loads(RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(public_key_pem)))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {**jwk, "kid": kid, "use": "sig", "alg": algorithm}


def verifying_keys(conf: dict[str, Any]) -> dict[str, str]:
    """The keys that verify tokens, by ``kid``: the current one first, then the previous ones."""
    if is_asymmetric(conf["ALGORITHM"]):
        keys = [conf["VERIFYING_KEY"], *conf.get("PREVIOUS_VERIFYING_KEYS", ())]
        return {rsa_jwk(key, conf["ALGORITHM"])["kid"]: key for key in keys}
    keys = [conf["SIGNING_KEY"], *conf.get("PREVIOUS_VERIFYING_KEYS", ())]
    return {hmac_kid(key): key for key in keys}


def jwks(conf: dict[str, Any]) -> dict[str, Any]:
    """The JWK Set of an RS* configuration: the current public key first, then the previous ones."""
    keys = [conf["VERIFYING_KEY"], *conf.get("PREVIOUS_VERIFYING_KEYS", ())]
    return {"keys": [rsa_jwk(key, conf["ALGORITHM"]) for key in keys]}
