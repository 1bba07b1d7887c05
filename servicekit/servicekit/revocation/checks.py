"""A verifier that does not consume revocations would accept revoked tokens until they expire."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

VERIFIER = "servicekit.revocation.authentication.VerifierJWTAuthentication"


@checks.register(checks.Tags.security)
def check_revocations_are_consumed(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if VERIFIER not in settings.REST_FRAMEWORK.get("DEFAULT_AUTHENTICATION_CLASSES", ()):
        return []  # the issuer writes its revocations itself
    from servicekit.kafka import event_handlers
    from servicekit.revocation.handlers import REVOKING_TYPES, handle_token_revocations

    handlers = event_handlers()
    missing = [
        name
        for name in REVOKING_TYPES
        if handlers is None or handle_token_revocations not in handlers.independent_handlers_for("user_events", name)
    ]
    if not missing:
        return []
    return [
        checks.Error(
            f"This service verifies tokens but does not consume {', '.join(missing)}: it would accept revoked "
            "tokens until they expire.",
            hint='Register it in the HANDLERS table: HANDLERS.independent("user_events", "user.sessions_revoked", '
            '"user.deleted")(handle_token_revocations) (servicekit.revocation.handlers).',
            id="servicekit.E005",
        )
    ]
