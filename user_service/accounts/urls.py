from django.urls import path

from accounts import apis

urlpatterns = [
    path("signup/", apis.SignupApi.as_view(), name="signup"),
    path("login/", apis.LoginApi.as_view(), name="login"),
    path("token/refresh/", apis.RefreshApi.as_view(), name="token-refresh"),
    path("logout/", apis.LogoutApi.as_view(), name="logout"),
    path("me/", apis.MeApi.as_view(), name="me"),
]
