"""Emails, sent by a thread of their own after the answer: how long an SMTP server takes
must not tell a caller whether an account exists (``services.password_reset_request``).

One thread per process, in order; a process that stops sends what it was given first (the
interpreter waits for the thread). An email that fails is logged, not retried: the person
asks again.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import Future, ThreadPoolExecutor
from urllib.parse import urlencode

from django.conf import settings
from django.core.mail import send_mail

log = logging.getLogger("accounts.mail")

_sender = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mail")


def send_later(*, subject: str, body: str, to: str) -> Future[None]:
    return _sender.submit(_send, subject, body, to)


def sent(timeout: float = 10.0) -> None:
    """Waits until every email handed over so far has been sent (or has failed)."""
    _sender.submit(lambda: None).result(timeout)


def _send(subject: str, body: str, to: str) -> None:
    try:
        send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])
    except Exception:
        log.exception("could not send %r to an account's address", subject)


def send_password_reset(*, email: str, uid: str, token: str) -> Future[None]:
    hours = settings.PASSWORD_RESET_TIMEOUT / 3600
    lines = [
        f"Someone, hopefully you, asked to reset the password of the account {email}.",
        "",
    ]
    if settings.RESET_LINK_URL:
        lines += [f"Choose a new password here within {hours:g} hour(s):",
                  f"{settings.RESET_LINK_URL}?{urlencode({'uid': uid, 'token': token})}", ""]  # fmt: skip
    lines += [
        f"To set it through the API (within {hours:g} hour(s), once): POST /api/users/password-reset/confirm/ with",
        json.dumps({"uid": uid, "token": token})[:-1] + ', "new_password": "..."}',
        "",
        "If you did not ask for this, ignore this email: your password stays as it is.",
    ]
    return send_later(subject="Reset your password", body="\n".join(lines), to=email)
