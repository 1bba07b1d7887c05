"""user_service's own limits, on servicekit's database-backed ones (``servicekit.throttling``):
sign-ups and password-reset requests per client address. Failed password checks are
``servicekit.throttling.logins``' (the API's login, and the admin's)."""

from __future__ import annotations

from django.conf import settings

from servicekit.throttling.limits import AddressThrottle


class SignupThrottle(AddressThrottle):
    kind = "signup-ip"
    detail = "Too many sign-ups from this address. Try again later."

    def limit(self) -> tuple[int, int]:
        return settings.SIGNUP_MAX_PER_ADDRESS, settings.SIGNUP_WINDOW_SECONDS


class PasswordResetThrottle(AddressThrottle):
    kind = "reset-ip"
    detail = "Too many password reset requests from this address. Try again later."

    def limit(self) -> tuple[int, int]:
        return settings.RESET_LINK_MAX_PER_ADDRESS, settings.RESET_LINK_WINDOW_SECONDS
