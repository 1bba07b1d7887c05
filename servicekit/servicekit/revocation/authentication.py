"""simplejwt's authentication, refusing revoked tokens (see ``servicekit.revocation``).

``JWTRole`` names these in ``DEFAULT_AUTHENTICATION_CLASSES``: the issuer looks the user up
in its database as before, the verifiers keep a stateless ``TokenUser``. The revocation
check itself reads this process's copy of the revocation table: no query per request.
"""

from __future__ import annotations

import uuid
from typing import Any

from rest_framework.exceptions import AuthenticationFailed
from rest_framework_simplejwt.authentication import JWTAuthentication, JWTStatelessUserAuthentication

from servicekit.revocation.view import revocations

TOKEN_REVOKED = "Token has been revoked."


def token_subjects(token: Any) -> list[uuid.UUID]:
    """What a token may be revoked for: its user, and its session when it names one."""
    subjects = [uuid.UUID(token["user_id"])]
    if token.get("sid"):
        subjects.append(uuid.UUID(token["sid"]))
    return subjects


class RefusesRevokedTokens:
    """Runs after the token's signature and claims are checked (``servicekit.tokens``)."""

    def get_validated_token(self, raw_token: bytes) -> Any:
        token = super().get_validated_token(raw_token)  # type: ignore[misc]
        if revocations().revoked(token_subjects(token), token["iat"]):
            raise AuthenticationFailed(TOKEN_REVOKED, code="token_revoked")
        return token


class IssuerJWTAuthentication(RefusesRevokedTokens, JWTAuthentication):
    pass


class VerifierJWTAuthentication(RefusesRevokedTokens, JWTStatelessUserAuthentication):
    pass
