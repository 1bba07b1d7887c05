"""HTTP endpoints of user_service: thin, each validates and calls one service function."""

from django.conf import settings
from django.http import Http404
from django.utils.decorators import method_decorator
from django.views.decorators.cache import cache_control
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import services
from accounts.serializers import (
    LoginSerializer,
    RefreshSerializer,
    SignupResponseSerializer,
    SignupSerializer,
    TokenPairSerializer,
    UserSerializer,
    UserUpdateSerializer,
)
from accounts.throttling import SignupThrottle, client_address
from accounts.tokens import token_pair_for
from servicekit.jwt import is_asymmetric, jwks

DETAIL = inline_serializer("Detail", {"detail": serializers.CharField()})


def _valid(serializer_class: type[serializers.Serializer], request: Request, **kwargs) -> dict:
    serializer = serializer_class(data=request.data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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
        user = services.user_signup(**_valid(SignupSerializer, request))
        return Response({"user": UserSerializer(user).data, **token_pair_for(user)}, status=status.HTTP_201_CREATED)


@issues_tokens
class LoginApi(PublicApi):
    @extend_schema(
        request=LoginSerializer,
        responses={200: TokenPairSerializer, 401: DETAIL, 429: DETAIL},
        description="Same 401 for a wrong password and an unknown email. Failed attempts are "
        "limited per email and per client address; over the limit the answer is 429 with Retry-After.",
    )
    def post(self, request: Request) -> Response:
        data = _valid(LoginSerializer, request)
        _user, pair = services.user_login(**data, address=client_address(request))
        return Response(pair)


@issues_tokens
class RefreshApi(PublicApi):
    @extend_schema(
        request=RefreshSerializer,
        responses={200: TokenPairSerializer, 401: DETAIL},
        description="Rotation: the refresh token given is blacklisted; use the new one.",
    )
    def post(self, request: Request) -> Response:
        return Response(services.token_refresh(**_valid(RefreshSerializer, request)))


class LogoutApi(APIView):
    @extend_schema(
        request=RefreshSerializer,
        responses={200: DETAIL},
        description="Revokes the caller's refresh token. As in RFC 7009, a token that is invalid, expired or "
        "already revoked is answered 200 too (there is nothing left to revoke); another user's is a 400.",
    )
    def post(self, request: Request) -> Response:
        revoked = services.user_logout(user=request.user, **_valid(RefreshSerializer, request))
        return Response({"detail": "Logged out." if revoked else "Nothing to revoke: the token is not valid."})


class MeApi(APIView):
    @extend_schema(responses={200: UserSerializer})
    def get(self, request: Request) -> Response:
        return Response(UserSerializer(request.user).data)

    @extend_schema(request=UserUpdateSerializer, responses={200: UserSerializer})
    def patch(self, request: Request) -> Response:
        fields = _valid(UserUpdateSerializer, request, instance=request.user, partial=True)
        return Response(UserSerializer(services.user_update(user=request.user, **fields)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request) -> Response:
        services.user_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class JWKSApi(PublicApi):
    """The public key(s) verifiers may use, in RS256 mode (404 with a shared HS secret)."""

    @extend_schema(responses={200: inline_serializer("JWKS", {"keys": serializers.ListField()}), 404: DETAIL})
    def get(self, request: Request) -> Response:
        jwt = settings.SIMPLE_JWT
        if not is_asymmetric(jwt["ALGORITHM"]):
            raise Http404
        return Response(jwks(jwt["VERIFYING_KEY"], jwt["ALGORITHM"]))
