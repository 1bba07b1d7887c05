"""JWT configuration for the issuer (user_service) and the verifiers (everyone else).

HS256 with a shared ``JWT_SIGNING_KEY`` is the zero-setup default. With
``JWT_ALGORITHM=RS256`` only user_service holds ``JWT_PRIVATE_KEY``; every service gets
``JWT_PUBLIC_KEY``. A verifier in RS256 mode has no signing key at all, so it cannot
mint tokens. Keys are PEM text (``\\n`` escapes allowed, for one-line env files) or a
path to a PEM file.
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
        if self is JWTRole.ISSUER:
            return "rest_framework_simplejwt.authentication.JWTAuthentication"
        return "rest_framework_simplejwt.authentication.JWTStatelessUserAuthentication"


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


def is_asymmetric(algorithm: str) -> bool:
    return algorithm in RSA_ALGORITHMS


def simple_jwt_settings(*, role: JWTRole, env: Callable[..., Any]) -> dict[str, Any]:
    """``SIMPLE_JWT`` for ``role`` from the ``JWT_*`` variables.

    Raises ImproperlyConfigured for an unsupported algorithm or a missing key. There is no
    default key: ``servicekit.checks`` also refuses weak and published ones at startup.
    """
    algorithm = env("JWT_ALGORITHM", default="HS256")
    if algorithm not in (*HMAC_ALGORITHMS, *RSA_ALGORITHMS):
        supported = ", ".join((*HMAC_ALGORITHMS, *RSA_ALGORITHMS))
        raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm!r} is not supported; use one of {supported}.")
    if not is_asymmetric(algorithm):
        signing_key = env("JWT_SIGNING_KEY", default="")
        if not signing_key:
            raise ImproperlyConfigured(
                "JWT_SIGNING_KEY is not set. `make run` generates a development key by itself; otherwise set "
                "it in the environment or in .env (`make env` writes one with fresh secrets)."
            )
    if is_asymmetric(algorithm):
        verifying_key = read_key(env("JWT_PUBLIC_KEY", default=""))
        if not verifying_key:
            raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm} needs JWT_PUBLIC_KEY.")
        signing_key = read_key(env("JWT_PRIVATE_KEY", default="")) if role is JWTRole.ISSUER else ""
        if role is JWTRole.ISSUER and not signing_key:
            raise ImproperlyConfigured(f"JWT_ALGORITHM={algorithm} needs JWT_PRIVATE_KEY in the issuer.")
    else:
        verifying_key = ""
    return {
        "ALGORITHM": algorithm,
        "SIGNING_KEY": signing_key,
        "VERIFYING_KEY": verifying_key,
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


@cache
def jwks(public_key_pem: str, algorithm: str) -> dict[str, Any]:
    """The JWK Set publishing ``public_key_pem``; ``kid`` is its RFC 7638 thumbprint."""
    from jwt.algorithms import RSAAlgorithm

    jwk = json.loads(RSAAlgorithm.to_jwk(RSAAlgorithm(RSAAlgorithm.SHA256).prepare_key(public_key_pem)))
    canonical = json.dumps({k: jwk[k] for k in ("e", "kty", "n")}, separators=(",", ":"), sort_keys=True)
    kid = base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()
    return {"keys": [{**jwk, "kid": kid, "use": "sig", "alg": algorithm}]}
