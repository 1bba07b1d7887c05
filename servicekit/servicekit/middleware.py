"""Middleware that only some paths need, run only for them.

An API call carries a bearer token: it needs no session, CSRF token, messages, login or
clickjacking header, and no static file lookup, yet Django runs every middleware of
``MIDDLEWARE`` on every request. :class:`BrowserPathsMiddleware` runs the middleware of
``BROWSER_MIDDLEWARE`` (what the admin, the docs page and static files need) for
``BROWSER_PATHS`` only; everything else goes straight on.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils.module_loading import import_string


class BrowserPathsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.api = get_response
        chain = get_response
        for path in reversed(settings.BROWSER_MIDDLEWARE):
            chain = import_string(path)(chain)
        self.browser = chain
        self.prefixes = tuple(settings.BROWSER_PATHS)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return (self.browser if request.path.startswith(self.prefixes) else self.api)(request)
