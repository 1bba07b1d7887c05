"""The tokens user_service issues: simplejwt's (their claims checked by servicekit), with an
``email`` claim, and on access tokens the ``scope`` the user is granted.

A scope is granted by a Django permission (``SCOPE_PERMISSIONS``): given to a user or a
group in the admin or with ``manage.py scopes grant``; superusers hold every permission.
``is_staff`` grants nothing outside user_service's own admin, so no token carries it.
A change applies to the tokens issued after it: within the access token lifetime (a
refresh asks the database again).
"""

from typing import TypedDict

from accounts.models import User
from servicekit.tokens import RefreshToken, Scope

#: The permission (``app_label.codename``) that grants each scope.
SCOPE_PERMISSIONS = {Scope.EVENTS_READ_ALL: "accounts.read_all_events"}


class AccountRefreshToken(RefreshToken):
    @classmethod
    def for_user(cls, user: User) -> "AccountRefreshToken":
        token = super().for_user(user)
        token["email"] = user.email
        return token


class TokenPair(TypedDict):
    access: str
    refresh: str


def scopes_for(user: User) -> list[str]:
    return sorted(scope.value for scope, permission in SCOPE_PERMISSIONS.items() if user.has_perm(permission))


def token_pair_for(user: User) -> TokenPair:
    """A new refresh token (recorded as outstanding) and an access token derived from it."""
    refresh = AccountRefreshToken.for_user(user)
    access = refresh.access_token
    scopes = scopes_for(user)
    if scopes:
        access["scope"] = " ".join(scopes)
    return {"access": str(access), "refresh": str(refresh)}
