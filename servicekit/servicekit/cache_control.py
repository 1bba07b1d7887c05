"""No cache keeps what a credential unlocked."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control


class NoStoreMiddleware:
    """``Cache-Control: no-store`` on every answer to a request with an ``Authorization``
    header, errors included: what it shows is one user's, and a shared cache (or the
    browser's disk) must not keep it. It sits outside the error middleware, so that the
    JSON errors it makes get the header too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, no_store=True)
        return response
