"""Account writes. Each function is one transaction."""

from __future__ import annotations

import uuid

from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, transaction
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.events import USER_DELETED, USER_LOGGED_IN, USER_REGISTERED, USER_SNAPSHOT, USER_UPDATED, user_data
from accounts.models import User
from accounts.throttling import email_attempts_forget, login_attempt_begin, login_attempt_succeeded
from accounts.tokens import AccountRefreshToken, TokenPair, token_pair_for
from servicekit.db import save_changes
from servicekit.outbox import emit
from servicekit.outbox.snapshots import Snapshots

DUPLICATE_EMAIL = "A user with this email address already exists."
BAD_CREDENTIALS = "No active account found with the given credentials."
BAD_REFRESH = "Token is invalid or expired"

#: What ``manage.py republish`` writes: a ``user.snapshot`` of each account (settings.EVENTS["SNAPSHOTS"]);
#: ``--since`` picks the accounts that joined since then (accounts keep no time of their last change).
USER_SNAPSHOTS = Snapshots(model=User, event_type=USER_SNAPSHOT, data=user_data, user_field="id",
                           changed_field="date_joined")  # fmt: skip


def user_signup(*, email: str, password: str, display_name: str = "") -> User:
    """Creates the account. Raises ValidationError for an email already taken (any case)."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, display_name=display_name)
            emit(USER_REGISTERED, subject=user.id, user_id=user.id, data=user_data(user))
            return user
    except IntegrityError:
        # Two signups racing past the serializer's check: the unique index decides.
        raise ValidationError({"email": [DUPLICATE_EMAIL]}) from None


def user_login(*, email: str, password: str, address: str) -> tuple[User, TokenPair]:
    """Checks the credentials under the failed-login throttle and issues a token pair.

    Raises Throttled (429) before checking anything once the email or the address is over
    its limit, and AuthenticationFailed (401, the same body for an unknown email).
    """
    email = User.objects.normalize_email(email)
    attempt = login_attempt_begin(email=email, address=address)
    user = authenticate(email=email, password=password)
    if user is None:
        raise AuthenticationFailed(BAD_CREDENTIALS, code="no_active_account")
    with transaction.atomic():
        # Locked like every other write to the account, so its events keep commit order;
        # an account deleted meanwhile cannot log in.
        user = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
        if user is None:
            raise AuthenticationFailed(BAD_CREDENTIALS, code="no_active_account")
        login_attempt_succeeded(email=email, attempt=attempt)
        emit(USER_LOGGED_IN, subject=user.id, user_id=user.id, data=user_data(user))
        return user, token_pair_for(user)


def token_refresh(*, refresh: str) -> TokenPair:
    """Exchanges a refresh token for a new pair and blacklists it (rotation).

    The outstanding-token row is locked, so two concurrent refreshes with the same token
    cannot both succeed: the second sees it blacklisted and gets 401.
    """
    try:
        token = AccountRefreshToken(refresh)
    except TokenError:
        raise AuthenticationFailed(BAD_REFRESH, code="token_not_valid") from None
    with transaction.atomic():
        outstanding = OutstandingToken.objects.select_for_update().filter(jti=token["jti"]).first()
        if outstanding is None or BlacklistedToken.objects.filter(token=outstanding).exists():
            raise AuthenticationFailed(BAD_REFRESH, code="token_not_valid")
        user = User.objects.filter(id=token.get("user_id"), is_active=True).first()
        if user is None:
            raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
        BlacklistedToken.objects.create(token=outstanding)
        return token_pair_for(user)


def user_logout(*, user: User, refresh: str) -> bool:
    """Blacklists the caller's refresh token; False if it could not be used anyway (invalid,
    expired, already blacklisted). Another user's valid token is refused (ValidationError)."""
    try:
        token = AccountRefreshToken(refresh)
    except TokenError:
        return False
    if uuid.UUID(token["user_id"]) != user.id:
        raise ValidationError({"refresh": ["Token does not belong to the authenticated user."]})
    token.blacklist()
    return True


def user_update(*, user: User, **fields: str) -> User:
    """Changes ``email`` and/or ``display_name``. Raises ValidationError for a taken email."""
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"])
    try:
        with transaction.atomic():
            user = save_changes(_locked(user), fields)
            emit(USER_UPDATED, subject=user.id, user_id=user.id, data=user_data(user))
            return user
    except IntegrityError:
        raise ValidationError({"email": [DUPLICATE_EMAIL]}) from None


def user_delete(*, user: User) -> None:
    """Deletes the account and announces it: every other service then erases what it holds
    of the user (post_service and note_service their content, consumer_service their events).

    What else in this database is about the person goes with the account, in the same
    transaction: the admin's history of the account (each entry names it by its email), the
    failed-login count of its email, and the records of its refresh tokens (which stop
    working at once; the blacklist would keep them, detached from any account, forever).
    """
    with transaction.atomic():
        user = _locked(user)
        emit(USER_DELETED, subject=user.id, user_id=user.id, data=user_data(user))
        OutstandingToken.objects.filter(user=user).delete()  # and their blacklist rows
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)).delete()
        email_attempts_forget(email=user.email)
        user.delete()


def _locked(user: User) -> User:
    """The account as committed now, locked until the transaction ends (401 if deleted)."""
    locked = User.objects.select_for_update().filter(pk=user.pk).first()
    if locked is None:
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    return locked
