"""URL patterns every service serves, and Django's JSON error handlers.

A service's ``config/urls.py``::

    from servicekit.urls import *  # noqa: F403  (the error handlers)
    urlpatterns = service_urlpatterns(path("api/posts/", include("posts.urls")))

The admin (``/admin/``) is there only where ``ADMIN_ENABLED`` (user_service by default).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin
from django.urls import URLPattern, URLResolver, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from servicekit.http import healthz, readyz

handler400 = "servicekit.http.bad_request"
handler403 = "servicekit.http.permission_denied"
handler404 = "servicekit.http.not_found"
handler500 = "servicekit.http.server_error"


def service_urlpatterns(*patterns: URLPattern | URLResolver) -> list[URLPattern | URLResolver]:
    return [
        path("healthz", healthz, name="healthz"),
        path("readyz", readyz, name="readyz"),
        path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
        path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
        *([path("admin/", admin.site.urls)] if settings.ADMIN_ENABLED else []),
        *patterns,
    ]


__all__ = ["handler400", "handler403", "handler404", "handler500", "service_urlpatterns"]
