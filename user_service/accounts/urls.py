from django.urls import path

from accounts import apis

urlpatterns = [
    path("signup/", apis.SignupApi.as_view(), name="signup"),
    path("login/", apis.LoginApi.as_view(), name="login"),
    path("token/refresh/", apis.RefreshApi.as_view(), name="token-refresh"),
    path("logout/", apis.LogoutApi.as_view(), name="logout"),
    path("logout/all/", apis.LogoutEverywhereApi.as_view(), name="logout-everywhere"),
    path("me/", apis.MeApi.as_view(), name="me"),
    path("me/password/", apis.PasswordChangeApi.as_view(), name="password-change"),
    path("me/sessions/", apis.SessionListApi.as_view(), name="sessions"),
    path("me/sessions/<uuid:session_id>/", apis.SessionApi.as_view(), name="session"),
    path("password-reset/", apis.PasswordResetApi.as_view(), name="password-reset"),
    path("password-reset/confirm/", apis.PasswordResetConfirmApi.as_view(), name="password-reset-confirm"),
]
