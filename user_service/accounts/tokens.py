"""The tokens user_service issues: simplejwt's (their claims checked by servicekit), with
``email`` and ``is_staff`` claims."""

from typing import TypedDict

from accounts.models import User
from servicekit.tokens import RefreshToken


class AccountRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user: User) -> "AccountRefreshToken":
        token = super().for_user(user)
        token["email"] = user.email
        token["is_staff"] = user.is_staff
        return token


class TokenPair(TypedDict):
    access: str
    refresh: str


def token_pair_for(user: User) -> TokenPair:
    """A new refresh token (recorded as outstanding) and an access token derived from it."""
    refresh = AccountRefreshToken.for_user(user)
    return {"access": str(refresh.access_token), "refresh": str(refresh)}
