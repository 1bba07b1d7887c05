"""Account writes. Each function is one transaction, unless it says otherwise.

Sessions: every login (and sign-up) starts a :class:`~accounts.models.Session`, the family of
the refresh tokens rotated from it. Ending sessions revokes their tokens everywhere: the
refresh tokens here at once, the access tokens in every service within seconds, through a
``user.sessions_revoked`` event (``servicekit.revocation``; this service records it for
itself in the same transaction).
"""

from __future__ import annotations

import ipaddress
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.auth import authenticate, password_validation
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone
from django.utils.encoding import force_bytes, force_str
from django.utils.http import urlsafe_base64_decode, urlsafe_base64_encode
from rest_framework.exceptions import AuthenticationFailed, Throttled, ValidationError
from rest_framework_simplejwt.exceptions import TokenError

from accounts import mail
from accounts.events import (
    USER_DELETED,
    USER_LOGGED_IN,
    USER_REGISTERED,
    USER_SESSIONS_REVOKED,
    USER_SNAPSHOT,
    USER_UPDATED,
    RevocationReason,
    user_data,
)
from accounts.models import Session, User
from accounts.selectors import session_list
from accounts.tokens import AccountRefreshToken, TokenPair, token_pair
from servicekit.db import save_changes
from servicekit.outbox import emit
from servicekit.outbox.snapshots import Snapshots
from servicekit.revocation.record import Revoked, revocations_record
from servicekit.revocation.view import revocations
from servicekit.throttling.limits import Limit, attempts_begin, attempts_clear, throttle_key
from servicekit.throttling.logins import login_attempt_begin, login_attempt_succeeded, login_attempts_forget

log = logging.getLogger("accounts")

DUPLICATE_EMAIL = "A user with this email address already exists."
BAD_CREDENTIALS = "No active account found with the given credentials."
BAD_REFRESH = "Token is invalid or expired"
WRONG_PASSWORD = "The current password is wrong."
PASSWORD_REQUIRED = "The current password is required to change the email."
INVALID_RESET = "The reset link is invalid or has expired."
#: The throttle key of the reset emails sent to one address.
RESET_EMAIL_KIND = "reset-email"
#: Longest user agent kept for a session.
USER_AGENT_LENGTH = Session._meta.get_field("user_agent").max_length

#: What ``manage.py republish`` writes: a ``user.snapshot`` of each account (settings.EVENTS["SNAPSHOTS"]);
#: ``--since`` picks the accounts that joined since then (accounts keep no time of their last change).
USER_SNAPSHOTS = Snapshots(model=User, event_type=USER_SNAPSHOT, data=user_data, user_field="id",
                           changed_field="date_joined")  # fmt: skip


@dataclass(frozen=True)
class Client:
    """Who is calling, as a session records it."""

    user_agent: str = ""
    address: str = ""

    @property
    def ip_address(self) -> str | None:
        try:
            return str(ipaddress.ip_address(self.address))
        except ValueError:
            return None

    @property
    def agent(self) -> str:
        # PostgreSQL stores no NUL; a header can carry one.
        return self.user_agent.replace("\x00", "")[:USER_AGENT_LENGTH]


# -- accounts -----------------------------------------------------------------------------------


def user_signup(*, email: str, password: str, display_name: str = "", client: Client) -> tuple[User, TokenPair]:
    """Creates the account and its first session. Raises ValidationError for an email
    already taken (any case)."""
    try:
        with transaction.atomic():
            user = User.objects.create_user(email=email, password=password, display_name=display_name)
            emit(USER_REGISTERED, subject=user.id, user_id=user.id, data=user_data(user))
            return user, _session_start(user, client)
    except IntegrityError:
        # Two signups racing past the serializer's check: the unique index decides.
        raise ValidationError({"email": [DUPLICATE_EMAIL]}) from None


def user_login(*, email: str, password: str, client: Client) -> tuple[User, TokenPair]:
    """Checks the credentials under the failed-login limits and starts a session.

    Raises Throttled (429) before checking anything once a limit is reached
    (``servicekit.throttling.logins``), and AuthenticationFailed (401, the same body for an
    unknown email).
    """
    email = User.objects.normalize_email(email)
    attempt = login_attempt_begin(account=email, address=client.address)
    user = authenticate(email=email, password=password)
    if user is None:
        raise AuthenticationFailed(BAD_CREDENTIALS, code="no_active_account")
    with transaction.atomic():
        # Locked like every other write to the account, so its events keep commit order;
        # an account deleted meanwhile cannot log in.
        user = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
        if user is None:
            raise AuthenticationFailed(BAD_CREDENTIALS, code="no_active_account")
        login_attempt_succeeded(account=email, address=client.address, attempt=attempt)
        emit(USER_LOGGED_IN, subject=user.id, user_id=user.id, data=user_data(user))
        return user, _session_start(user, client)


def user_update(*, user: User, client: Client, current_password: str | None = None, **fields: str) -> User:
    """Changes ``email`` and/or ``display_name``. A new email needs the current password
    (checked under the failed-login limits). Raises ValidationError for a missing or wrong
    password or a taken email, Throttled (429)."""
    if "email" in fields:
        fields["email"] = User.objects.normalize_email(fields["email"])
        if fields["email"] != user.email:
            _check_current_password(user, current_password, client)
    try:
        with transaction.atomic():
            user = save_changes(_locked(user), fields)
            emit(USER_UPDATED, subject=user.id, user_id=user.id, data=user_data(user))
            return user
    except IntegrityError:
        raise ValidationError({"email": [DUPLICATE_EMAIL]}) from None


def user_delete(*, user: User) -> None:
    """Deletes the account and announces it: every other service then erases what it holds
    of the user (post_service and note_service their content, consumer_service their events)
    and refuses every token of the user issued before the event.

    What else in this database is about the person goes with the account, in the same
    transaction: its sessions (their refresh tokens stop working at once), the admin's
    history of the account (each entry names it by its email), and the counts of failed
    logins and reset emails of its email.
    """
    with transaction.atomic():
        user = _locked(user)
        emit(USER_DELETED, subject=user.id, user_id=user.id, data=user_data(user))
        LogEntry.objects.filter(content_type=ContentType.objects.get_for_model(User), object_id=str(user.pk)).delete()
        login_attempts_forget(account=user.email)
        attempts_clear(throttle_key(RESET_EMAIL_KIND, user.email))
        user.delete()


# -- passwords --------------------------------------------------------------------------------


def password_change(*, user: User, current_password: str, new_password: str, client: Client) -> TokenPair:
    """Sets a new password, ends every session of the user (this one too: a thief may hold
    its refresh token) and starts a new one for the caller, whose tokens it returns.

    Raises ValidationError (a wrong current password, a weak new one) or Throttled (429):
    the current password is checked under the failed-login limits.
    """
    _check_current_password(user, current_password, client)
    _validate_new_password(new_password, user)
    with transaction.atomic():
        user = _locked(user)
        user.set_password(new_password)
        user.save(update_fields=["password"])
        not_before = _sessions_end(user, RevocationReason.PASSWORD_CHANGED)
        return _session_start(user, client, not_before=not_before)


def password_reset_request(*, email: str) -> None:
    """Sends a one-time link to set a new password, if ``email`` is an active account's.

    Whether it is cannot be told from the outside: the caller answers the same, and both
    paths do the same work here (one lookup, one count); the email is sent by another
    thread after the answer (``accounts.mail``). At most ``RESET_LINK_MAX_PER_EMAIL``
    emails go to one address within ``RESET_LINK_WINDOW_SECONDS``: the requests past
    that are counted and answered alike, but send nothing. Not a transaction of its own.
    """
    email = User.objects.normalize_email(email)
    user = User.objects.filter(email=email, is_active=True).first()
    limit = Limit(throttle_key(RESET_EMAIL_KIND, email), settings.RESET_LINK_MAX_PER_EMAIL,
                  settings.RESET_LINK_WINDOW_SECONDS)  # fmt: skip
    try:
        attempts_begin([limit], detail="")
    except Throttled:
        return
    if user is not None and user.has_usable_password():
        uid = urlsafe_base64_encode(force_bytes(user.pk))
        mail.send_password_reset(email=user.email, uid=uid, token=default_token_generator.make_token(user))


def password_reset_confirm(*, uid: str, token: str, new_password: str) -> None:
    """Sets the new password of the account the link was sent for and ends every session.
    The link works once (a new password invalidates it) and until
    ``PASSWORD_RESET_TIMEOUT``. Raises ValidationError for a bad link or a weak password."""
    user = _user_of_reset_link(uid, token)
    _validate_new_password(new_password, user)
    with transaction.atomic():
        user = User.objects.select_for_update().filter(pk=user.pk, is_active=True).first()
        # Again under the lock: of two confirmations at once, the second finds the link used.
        if user is None or not default_token_generator.check_token(user, token):
            raise ValidationError({"token": [INVALID_RESET]})
        user.set_password(new_password)
        user.save(update_fields=["password"])
        _sessions_end(user, RevocationReason.PASSWORD_RESET)


# -- sessions and tokens ----------------------------------------------------------------------


def token_refresh(*, refresh: str, client: Client) -> TokenPair:
    """Exchanges the newest refresh token of a session for a new pair (rotation).

    A refresh token the session has already rotated past is a copy someone kept: the whole
    session is revoked (RFC 9700, 4.14.2: refresh token reuse detection), for the thief and
    the owner alike, whichever of them comes second; that is logged as a warning. The
    session row is locked, so of two refreshes with one token only the first rotates.
    Raises AuthenticationFailed (401) for any token that cannot be used.
    """
    token = _refresh_token(refresh)
    if token is None:
        raise AuthenticationFailed(BAD_REFRESH, code="token_not_valid")
    with transaction.atomic():
        session = (
            Session.objects.select_for_update(of=("self",))
            .select_related("user")
            .filter(id=token["sid"], user_id=token["user_id"], revoked_at=None, user__is_active=True)
            .first()
        )
        if session is None:
            raise AuthenticationFailed(BAD_REFRESH, code="token_not_valid")
        reused = session.refresh_jti != token["jti"]
        if not reused:
            return _session_rotate(session, client)
        _session_revoke(session, RevocationReason.REFRESH_TOKEN_REUSED)
    log.warning(
        "refresh token reuse: a token session %s had rotated past was presented; the session of user %s is "
        "revoked, every token of it refused",
        session.id,
        session.user_id,
        extra={"user_id": str(session.user_id), "session_id": str(session.id), "address": client.address},
    )
    raise AuthenticationFailed(BAD_REFRESH, code="token_not_valid")


def user_logout(*, user: User, refresh: str) -> bool:
    """Ends the session of the caller's refresh token: its tokens are refused everywhere.
    False if the token could not be used anyway (invalid, expired, rotated, its session
    over). Another user's valid token is refused (ValidationError)."""
    token = _refresh_token(refresh)
    if token is None:
        return False
    if uuid.UUID(token["user_id"]) != user.id:
        raise ValidationError({"refresh": ["Token does not belong to the authenticated user."]})
    with transaction.atomic():
        session = (
            Session.objects.select_for_update()
            .filter(id=token["sid"], user=user, refresh_jti=token["jti"], revoked_at=None)
            .first()
        )
        if session is None:
            return False
        _session_revoke(session, RevocationReason.LOGOUT)
        return True


def user_logout_everywhere(*, user: User) -> int:
    """Ends every session of the user, and revokes every access token issued until now.
    Returns how many sessions were live."""
    with transaction.atomic():
        user = _locked(user)
        live = session_list(user=user).count()
        _sessions_end(user, RevocationReason.LOGOUT_EVERYWHERE)
        return live


def session_revoke(*, user: User, session_id: uuid.UUID) -> None:
    """Ends one live session of the user (404 for any other: another user's, an ended one)."""
    with transaction.atomic():
        session = session_list(user=user).select_for_update().filter(id=session_id).first()
        if session is None:
            raise Http404
        _session_revoke(session, RevocationReason.SESSION_REVOKED)


def sessions_end(*, session_ids: list[uuid.UUID]) -> int:
    """Ends those of the sessions that are live (an operator's action); returns how many."""
    with transaction.atomic():
        sessions = list(Session.objects.select_for_update().filter(id__in=session_ids, revoked_at=None).order_by("id"))
        for session in sessions:
            _session_revoke(session, RevocationReason.SESSION_REVOKED)
        return len(sessions)


# -- internals ----------------------------------------------------------------------------------


def _locked(user: User) -> User:
    """The account as committed now, locked until the transaction ends (401 if deleted)."""
    locked = User.objects.select_for_update().filter(pk=user.pk).first()
    if locked is None:
        raise AuthenticationFailed("No active account found for the given token.", code="no_active_account")
    return locked


def _refresh_token(raw: str) -> AccountRefreshToken | None:
    """A valid refresh token of some session, or None."""
    try:
        token = AccountRefreshToken(raw)
    except TokenError:
        return None
    return token if "sid" in token else None


def _session_start(user: User, client: Client, *, not_before: datetime | None = None) -> TokenPair:
    session = Session(user=user, user_agent=client.agent, ip_address=client.ip_address)
    refresh = AccountRefreshToken.for_session(session, not_before=not_before)
    session.refresh_jti, session.expires_at = refresh["jti"], refresh.expires_at
    session.created_at = session.last_used_at = refresh.current_time
    session.save()
    return token_pair(refresh, user)


def _session_rotate(session: Session, client: Client) -> TokenPair:
    refresh = AccountRefreshToken.for_session(session)
    session.refresh_jti, session.expires_at = refresh["jti"], refresh.expires_at
    session.last_used_at, session.user_agent, session.ip_address = refresh.current_time, client.agent, client.ip_address
    session.save(update_fields=["refresh_jti", "expires_at", "last_used_at", "user_agent", "ip_address"])
    return token_pair(refresh, session.user)


def _session_revoke(session: Session, reason: RevocationReason) -> None:
    """Ends ``session``: its refresh token here, its access tokens everywhere."""
    now = timezone.now()
    session.revoked_at, session.revoked_reason = now, reason.value
    session.save(update_fields=["revoked_at", "revoked_reason"])
    _emit_sessions_revoked(session.user_id, now, reason, session=session.id)


def _sessions_end(user: User, reason: RevocationReason) -> datetime:
    """Ends every session of ``user`` and revokes every token issued before now; returns now."""
    now = timezone.now()
    Session.objects.filter(user=user, revoked_at=None).update(revoked_at=now, revoked_reason=reason.value)
    _emit_sessions_revoked(user.id, now, reason)
    return now


def _emit_sessions_revoked(user_id: uuid.UUID, not_before: datetime, reason: RevocationReason, *,
                           session: uuid.UUID | None = None) -> None:  # fmt: skip
    data = {"id": user_id, "not_before": not_before, "session": session, "reason": reason.value}
    emit(USER_SESSIONS_REVOKED, subject=user_id, user_id=user_id, data=data)
    _record_revocation(Revoked(session or user_id, not_before))


def _record_revocation(revoked: Revoked) -> None:
    """This service's own copy (its authentication reads it like any verifier's), in the
    caller's transaction; this process takes it at once, the others within a refresh."""
    revocations_record([revoked])
    transaction.on_commit(lambda: revocations().note(revoked.subject, revoked.not_before.timestamp()))


def _check_current_password(user: User, password: str | None, client: Client) -> None:
    if not password:
        raise ValidationError({"current_password": [PASSWORD_REQUIRED]})
    attempt = login_attempt_begin(account=user.email, address=client.address)
    if not user.check_password(password):
        raise ValidationError({"current_password": [WRONG_PASSWORD]})
    login_attempt_succeeded(account=user.email, address=client.address, attempt=attempt)


def _validate_new_password(password: str, user: User) -> None:
    try:
        password_validation.validate_password(password, user=user)
    except DjangoValidationError as exc:
        raise ValidationError({"new_password": list(exc.messages)}) from None


def _user_of_reset_link(uid: str, token: str) -> User:
    try:
        user_id = uuid.UUID(force_str(urlsafe_base64_decode(uid)))
    except (ValueError, TypeError, UnicodeDecodeError):
        raise ValidationError({"token": [INVALID_RESET]}) from None
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None or not default_token_generator.check_token(user, token):
        raise ValidationError({"token": [INVALID_RESET]})
    return user
