"""HTTP endpoints of user_service: thin, each validates and calls one service function."""

from django.conf import settings
from django.http import Http404
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, services
from accounts.serializers import (
    LoginSerializer,
    PasswordChangeSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetRequestSerializer,
    RefreshSerializer,
    SessionSerializer,
    SignupResponseSerializer,
    SignupSerializer,
    TokenPairSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.throttling import PasswordResetThrottle, SignupThrottle
from servicekit.jwt import is_asymmetric, jwks
from servicekit.throttling.limits import client_address

DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})
PASSWORD_CHECKED = (
    "The current password is checked under the failed-login limits: 400 when it is wrong, 429 with "
    "Retry-After over the limit."
)


def _valid(serializer_class: type[serializers.Serializer], request: Request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _client(request: Request) -> services.Client:
    return services.Client(user_agent=request.headers.get("User-Agent", ""), address=client_address(request))


def _session_id(request: Request) -> str | None:
    """The session of the request's access token."""
    return request.auth.get("sid") if request.auth is not None else None


class PublicApi(APIView):
    """No authentication; a 401 raised here still says how to authenticate (not 403)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []

    def get_authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'


# Answers carrying tokens must not be stored by any cache (RFC 6749, section 5.1); answers
# to requests carrying one get the same from servicekit.cache_control.NoStoreMiddleware.
issues_tokens = method_decorator(cache_control(no_store=True), name="dispatch")


@issues_tokens
class SignupApi(PublicApi):
    throttle_classes = [SignupThrottle]

    @extend_schema(
        request=SignupSerializer,
        responses={201: SignupResponseSerializer, 429: DETAIL},
        description="400 lists the reasons: invalid or taken email (any case), weak password. Sign-ups are "
        "limited per client address, whatever their outcome; over the limit the answer is 429 with Retry-After.",
    )
    def post(self, request: Request) -> Response:
        user, pair = services.user_signup(**_valid(SignupSerializer, request), client=_client(request))
        return Response({"user": UserSerializer(user).data, **pair}, status=status.HTTP_201_CREATED)


@issues_tokens
class LoginApi(PublicApi):
    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: DETAIL, 429: DETAIL},
        description="Starts a session. Same 401 for a wrong password and an unknown email. Failed attempts are "
        "limited per email and client address, per email and per client address; over a limit the answer is "
        "429 with Retry-After.",
    )
    def post(self, request: Request) -> Response:
        _user, pair = services.user_login(**_valid(LoginSerializer, request), client=_client(request))
        return Response(pair)


@issues_tokens
class RefreshApi(PublicApi):
    @extend_schema(
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 401: DETAIL},
        description="Rotation: use the new refresh token from now on. A refresh token that was already "
        "exchanged ends its whole session (reuse detection): 401, and every token of the session is revoked.",
    )
    def post(self, request: Request) -> Response:
        return Response(services.token_refresh(**_valid(RefreshSerializer, request), client=_client(request)))


class LogoutApi(APIView):
    @extend_schema(
        request=RefreshSerializer,
        responses={200: DETAIL},
        description="Ends the session of the caller's refresh token: its tokens are refused everywhere within "
        "seconds. As in RFC 7009, a token that is invalid, expired or already revoked is answered 200 too "
        "(there is nothing left to revoke); another user's is a 400.",
    )
    def post(self, request: Request) -> Response:
        revoked = services.user_logout(user=request.user, **_valid(RefreshSerializer, request))
        return Response({"detail": "Logged out." if revoked else "Nothing to revoke: the token is not valid."})


class LogoutEverywhereApi(APIView):
    @extend_schema(
        request=None,
        responses={200: DETAIL},
        description="Ends every session of the caller: every refresh token is revoked, and every access token "
        "issued until now is refused everywhere within seconds (this request's too).",
    )
    def post(self, request: Request) -> Response:
        ended = services.user_logout_everywhere(user=request.user)
        return Response({"detail": f"Logged out everywhere ({ended} session(s) ended)."})


class MeApi(APIView):
    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(
        request=UserUpdateSerializer,
        responses={200: UserSerializer, 429: DETAIL},
        description=f"A new email needs current_password (400 without it). {PASSWORD_CHECKED}",
    )
    def patch(self, request: Request) -> Response:
        fields = _valid(UserUpdateSerializer, request, instance=request.user, partial=True)
        return Response(UserSerializer(services.user_update(user=request.user, client=_client(request), **fields)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        services.user_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


@issues_tokens
class PasswordChangeApi(APIView):
    @extend_schema(
        request=PasswordChangeSerializer,
        responses={200: TokenPairSerializer, 429: DETAIL},
        description="Sets a new password (Django's validators: 400 lists the reasons) and ends every session, "
        "this one included; the answer holds the tokens of a new session for the caller. " + PASSWORD_CHECKED,
    )
    def post(self, request: Request) -> Response:
        data = _valid(PasswordChangeSerializer, request)
        return Response(services.password_change(user=request.user, **data, client=_client(request)))


class PasswordResetApi(PublicApi):
    throttle_classes = [PasswordResetThrottle]

    @extend_schema(
        request=PasswordResetRequestSerializer,
        responses={202: DETAIL, 429: DETAIL},
        description="Emails a one-time link to set a new password, if the email is an account's: the answer "
        "is the same either way. Requests are limited per client address (429 with Retry-After), and emails "
        "per address they go to.",
    )
    def post(self, request: Request) -> Response:
        services.password_reset_request(**_valid(PasswordResetRequestSerializer, request))
        return Response(
            {"detail": "If an account has this email, a link to reset its password is on its way."},
            status=status.HTTP_202_ACCEPTED,
        )


class PasswordResetConfirmApi(PublicApi):
    @extend_schema(
        request=PasswordResetConfirmSerializer,
        responses={200: DETAIL},
        description="Sets the new password with the uid and token of the email, and ends every session of the "
        "account. 400 for a link that is invalid, expired or used, or a weak password (the reasons listed).",
    )
    def post(self, request: Request) -> Response:
        services.password_reset_confirm(**_valid(PasswordResetConfirmSerializer, request))
        return Response({"detail": "Password changed: log in with the new one."})


class SessionListApi(generics.ListAPIView):
    """The caller's live sessions (one per login), the one of this request marked ``current``."""

    serializer_class = SessionSerializer
    filter_backends: list = []

    def get_queryset(self):
        return selectors.session_list(user=self.request.user)

    def get_serializer_context(self) -> dict:
        return {**super().get_serializer_context(), "session_id": _session_id(self.request)}


class SessionApi(APIView):
    @extend_schema(
        responses={204: OpenApiResponse(description="Ended."), 404: DETAIL},
        description="Ends one of the caller's live sessions: its tokens are refused everywhere within seconds.",
    )
    def delete(self, request: Request, session_id) -> Response:
        services.session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JWKSApi(PublicApi):
    """The public keys verifiers may use, in RS256 mode: the current one first, then those of
    earlier rotations that still verify tokens (404 with a shared HS secret)."""

    @extend_schema(responses={200: inline_serializer("JWKS", {"keys": serializers.ListField()}), 404: DETAIL})
    def get(self, request: Request) -> Response:
        if not is_asymmetric(settings.SIMPLE_JWT["ALGORITHM"]):
            raise Http404
        return Response(jwks(settings.SIMPLE_JWT))
