from django.urls import include, path
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from widgets.apis import router

from servicekit.urls import *  # noqa: F403 - Django's JSON error handlers
from servicekit.urls import service_urlpatterns


@api_view(["POST"])
@authentication_classes([])
@permission_classes([AllowAny])
def echo(request: Request) -> Response:
    """The JSON body as DRF parsed it, for the request-body tests (tests/test_http_bodies.py)."""
    return Response(request.data, status=201)


@api_view(["GET"])
def whoami(request: Request) -> Response:
    """The caller's id, behind the service's authentication (tests/test_revocation.py)."""
    return Response({"user_id": str(request.user.id)})


urlpatterns = service_urlpatterns(path("echo/", echo), path("whoami/", whoami), path("api/", include(router.urls)))
