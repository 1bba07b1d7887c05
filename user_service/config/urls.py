from django.urls import include, path

from accounts.apis import JWKSApi
from servicekit.urls import *  # noqa: F403 - Django's JSON error handlers
from servicekit.urls import service_urlpatterns

urlpatterns = service_urlpatterns(
    path("api/users/", include("accounts.urls")),
    path(".well-known/jwks.json", JWKSApi.as_view(), name="jwks"),
)
