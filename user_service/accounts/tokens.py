"""The tokens user_service issues: simplejwt's (their claims checked by servicekit), with an
``email`` claim, the session they belong to (``sid``), and on access tokens the ``scope``
the user is granted.

A scope is granted by a Django permission (``SCOPE_PERMISSIONS``): given to a user or a
group in the admin or with ``manage.py scopes grant``; superusers hold every permission.
``is_staff`` grants nothing outside user_service's own admin, so no token carries it.
A change applies to the tokens issued after it: within the access token lifetime (a
refresh asks the database again).
"""

from datetime import datetime
from typing import TypedDict

from rest_framework_simplejwt.utils import datetime_from_epoch

from accounts.models import Session, User
from servicekit.tokens import RefreshToken, Scope

#: The permission (``app_label.codename``) that grants each scope.
SCOPE_PERMISSIONS = {Scope.EVENTS_READ_ALL: "accounts.read_all_events"}


class AccountRefreshToken(RefreshToken):
    @classmethod
    def for_session(cls, session: Session, *, not_before: datetime | None = None) -> "AccountRefreshToken":
        """A new refresh token of ``session``, issued no earlier than ``not_before`` (a
        revocation this request has just made: its own tokens must survive it)."""
        token = cls.for_user(session.user)
        token["email"] = session.user.email
        token["sid"] = str(session.id)
        if not_before is not None and token.current_time < not_before:
            token.current_time = not_before
            token.set_iat()
        return token

    @property
    def expires_at(self) -> datetime:
        return datetime_from_epoch(self["exp"])


class TokenPair(TypedDict):
    access: str
    refresh: str


def scopes_for(user: User) -> list[str]:
    return sorted(scope.value for scope, permission in SCOPE_PERMISSIONS.items() if user.has_perm(permission))


def token_pair(refresh: AccountRefreshToken, user: User) -> TokenPair:
    """``refresh`` and an access token made from it, with the user's scopes."""
    access = refresh.access_token
    access.set_iat(at_time=refresh.current_time)  # the pair is one issue, revoked or kept together
    scopes = scopes_for(user)
    if scopes:
        access["scope"] = " ".join(scopes)
    return {"access": str(access), "refresh": str(refresh)}
