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


urlpatterns = service_urlpatterns(path("echo/", echo), path("api/", include(router.urls)))
