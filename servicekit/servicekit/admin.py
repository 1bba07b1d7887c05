"""The admin site of every service, and admin classes for per-user resources.

Its login counts failed passwords like the API's login (``servicekit.throttling.logins``):
without that, anyone could try passwords for a staff account as fast as the server answers.
``/admin/`` is served only where ``ADMIN_ENABLED`` (user_service by default).
"""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.utils.html import escape
from rest_framework.exceptions import Throttled

from servicekit.throttling.limits import client_address
from servicekit.throttling.logins import LOGIN_THROTTLED, login_attempt_begin, login_attempt_succeeded


class ThrottledAdminSite(admin.AdminSite):
    def login(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        if request.method != "POST":
            return super().login(request, extra_context)
        account, address = request.POST.get("username", "").strip().lower(), client_address(request)
        try:
            attempt = login_attempt_begin(account=account, address=address)
        except Throttled as exc:
            response = HttpResponse(f"<h1>{escape(LOGIN_THROTTLED)}</h1>", status=429)
            response["Retry-After"] = str(max(1, int(exc.wait + 0.999)))
            return response
        response = super().login(request, extra_context)
        if request.user.is_authenticated and request.user.is_staff:
            login_attempt_succeeded(account=account, address=address, attempt=attempt)
        return response


class OwnedResourceAdmin(admin.ModelAdmin):
    """A per-user resource: the owner's id shown and searched as a plain value."""

    list_display = ["title", "user_id", "created_at", "updated_at"]
    search_fields = ["title", "=user_id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    ordering = ["-created_at"]
