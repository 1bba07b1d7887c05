from servicekit.urls import *  # noqa: F403 - Django's JSON error handlers
from servicekit.urls import service_urlpatterns

urlpatterns = service_urlpatterns()
