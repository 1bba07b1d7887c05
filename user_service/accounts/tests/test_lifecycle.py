"""The account lifecycle over HTTP: signup → login → me → refresh → logout → delete."""

import uuid

import jwt
import pytest

from accounts.models import Session, User
from conftest import PASSWORD
from servicekit.jwt import hmac_kid
from servicekit.testkit.service import assert_openapi_schema_valid
from servicekit.tokens import AccessToken

pytestmark = pytest.mark.django_db


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_full_account_lifecycle(api_client):
    signup = api_client.post("/api/users/signup/", {"email": "Alice@Example.com", "password": PASSWORD}, format="json")
    assert signup.status_code == 201
    body = signup.json()
    assert set(body) == {"user", "access", "refresh"}
    assert body["user"]["email"] == "alice@example.com"
    assert body["user"]["is_staff"] is False
    user_id = body["user"]["id"]
    uuid.UUID(user_id)

    login = api_client.post("/api/users/login/", {"email": "ALICE@example.com", "password": PASSWORD}, format="json")
    assert login.status_code == 200
    access, refresh = login.json()["access"], login.json()["refresh"]

    me = api_client.get("/api/users/me/", **bearer(access))
    assert me.status_code == 200
    assert me.json()["id"] == user_id
    assert set(me.json()) == {"id", "email", "display_name", "date_joined", "is_staff"}

    refreshed = api_client.post("/api/users/token/refresh/", {"refresh": refresh}, format="json")
    assert refreshed.status_code == 200
    new_access, new_refresh = refreshed.json()["access"], refreshed.json()["refresh"]
    assert new_refresh != refresh
    # Rotation: the old refresh token is refused now, and presenting it ends its whole
    # session (reuse detection): the new tokens too.
    again = api_client.post("/api/users/token/refresh/", {"refresh": refresh}, format="json")
    assert again.status_code == 401
    assert "detail" in again.json()
    assert api_client.post("/api/users/token/refresh/", {"refresh": new_refresh}, format="json").status_code == 401
    assert api_client.get("/api/users/me/", **bearer(new_access)).status_code == 401

    login = api_client.post("/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    new_access, new_refresh = login.json()["access"], login.json()["refresh"]
    logout = api_client.post("/api/users/logout/", {"refresh": new_refresh}, format="json", **bearer(new_access))
    assert logout.status_code == 200
    after_logout = api_client.post("/api/users/token/refresh/", {"refresh": new_refresh}, format="json")
    assert after_logout.status_code == 401

    # Logging out ended that session, its access token too.
    assert api_client.get("/api/users/me/", **bearer(new_access)).status_code == 401
    new_access = api_client.post(
        "/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json"
    ).json()["access"]
    delete = api_client.delete("/api/users/me/", **bearer(new_access))
    assert delete.status_code == 204
    assert not User.objects.filter(id=user_id).exists()
    assert api_client.get("/api/users/me/", **bearer(new_access)).status_code == 401
    relogin = api_client.post("/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json")
    assert relogin.status_code == 401


def test_token_claims(signup, settings):
    body = signup()
    claims = AccessToken(body["access"]).payload
    assert claims["user_id"] == body["user"]["id"]
    assert claims["email"] == "alice@example.com"
    assert claims["token_type"] == "access"
    assert claims["iss"] == "user_service"
    assert claims["aud"] == "microservices"
    assert {"jti", "exp", "iat"} <= set(claims)
    # iat to the microsecond (revocations compare it), exp in whole seconds
    assert 15 * 60 - 1 < claims["exp"] - claims["iat"] <= 15 * 60
    assert isinstance(claims["iat"], float)
    # Both tokens name the session they belong to, and the key that signed them.
    refresh = jwt.decode(body["refresh"], options={"verify_signature": False})
    assert claims["sid"] == refresh["sid"] == str(Session.objects.get(user_id=body["user"]["id"]).id)
    assert jwt.get_unverified_header(body["access"])["kid"] == hmac_kid(settings.SIMPLE_JWT["SIGNING_KEY"])


def test_refresh_of_deleted_user_is_401_not_500(api_client, signup):
    body = signup()
    api_client.delete("/api/users/me/", **bearer(body["access"]))
    response = api_client.post("/api/users/token/refresh/", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 401


def test_patch_me_changes_profile_but_never_protected_fields(api_client, signup):
    body = signup()
    response = api_client.patch(
        "/api/users/me/",
        {
            "display_name": "Alice",
            "email": "alice2@example.com",
            "current_password": PASSWORD,
            "id": str(uuid.uuid4()),
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "date_joined": "2000-01-01T00:00:00Z",
            "password": "pbkdf2_sha256$1$x$y",
        },
        format="json",
        **bearer(body["access"]),
    )
    assert response.status_code == 200
    user = User.objects.get(id=body["user"]["id"])
    assert (user.display_name, user.email) == ("Alice", "alice2@example.com")
    assert not user.is_staff and not user.is_superuser and user.is_active
    assert user.date_joined.year > 2000
    assert user.check_password(PASSWORD)


def test_signup_ignores_privileged_fields(api_client):
    response = api_client.post(
        "/api/users/signup/",
        {
            "email": "mallory@example.com",
            "password": PASSWORD,
            "is_staff": True,
            "is_superuser": True,
            "is_active": False,
            "id": "00000000-0000-0000-0000-000000000001",
            "date_joined": "2000-01-01T00:00:00Z",
        },
        format="json",
    )
    assert response.status_code == 201
    user = User.objects.get(email="mallory@example.com")
    assert str(user.id) != "00000000-0000-0000-0000-000000000001"
    assert not user.is_staff and not user.is_superuser and user.is_active
    assert user.date_joined.year > 2000


def test_patch_email_to_taken_address_any_case_is_400(api_client, signup):
    signup("bob@example.com")
    alice = signup("alice@example.com")
    response = api_client.patch(
        "/api/users/me/",
        {"email": "BOB@example.com", "current_password": PASSWORD},
        format="json",
        **bearer(alice["access"]),
    )
    assert response.status_code == 400
    assert "email" in response.json()


def test_logout_refuses_someone_elses_refresh_token(api_client, signup):
    alice, bob = signup("alice@example.com"), signup("bob@example.com")
    response = api_client.post(
        "/api/users/logout/", {"refresh": bob["refresh"]}, format="json", **bearer(alice["access"])
    )
    assert response.status_code == 400
    assert api_client.post("/api/users/token/refresh/", {"refresh": bob["refresh"]}, format="json").status_code == 200


def test_logout_with_a_token_that_cannot_be_used_anyway_is_200_and_revokes_nothing(api_client, signup):
    """RFC 7009: nothing to revoke is no error (a client could do nothing about it)."""
    body = signup()
    used = body["refresh"]
    fresh = api_client.post("/api/users/token/refresh/", {"refresh": used}, format="json").json()["refresh"]
    for token in ["garbage", used, body["access"]]:  # not a token, already blacklisted, not a refresh token
        response = api_client.post("/api/users/logout/", {"refresh": token}, format="json", **bearer(body["access"]))
        assert response.status_code == 200
        assert response.json() == {"detail": "Nothing to revoke: the token is not valid."}
    assert api_client.post("/api/users/token/refresh/", {"refresh": fresh}, format="json").status_code == 200


def test_logout_needs_an_access_token(api_client, signup):
    body = signup()
    response = api_client.post("/api/users/logout/", {"refresh": body["refresh"]}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_tokens_and_whatever_a_token_unlocks_are_never_stored(api_client, signup):
    body = signup()
    credentials = {"email": "alice@example.com", "password": PASSWORD}
    answers = [
        api_client.post("/api/users/signup/", {"email": "bob@example.com", "password": PASSWORD}, format="json"),
        api_client.post("/api/users/login/", credentials, format="json"),
        api_client.post("/api/users/token/refresh/", {"refresh": body["refresh"]}, format="json"),
        api_client.post("/api/users/token/refresh/", {"refresh": body["refresh"]}, format="json"),  # 401 now
        api_client.get("/api/users/me/", **bearer(body["access"])),
        api_client.patch("/api/users/me/", {"email": "nope"}, format="json", **bearer(body["access"])),  # 400
        api_client.get("/api/users/me/", **bearer("garbage")),  # 401
        api_client.get("/api/users/nothing/", **bearer(body["access"])),  # 404
    ]
    for response in answers:
        assert response["Cache-Control"] == "no-store", (response.status_code, response.content)
    assert not api_client.get("/.well-known/jwks.json").has_header("Cache-Control")


def test_health_and_docs(api_client, db):
    assert api_client.get("/healthz").json() == {"status": "ok", "service": "user_service"}
    ready = api_client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"]["database"] == "ok"
    schema = api_client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    spec = schema.json()
    for path in [
        "/api/users/signup/",
        "/api/users/login/",
        "/api/users/token/refresh/",
        "/api/users/logout/",
        "/api/users/me/",
    ]:
        assert path in spec["paths"], path
    assert spec["components"]["securitySchemes"]["jwtAuth"]["scheme"] == "bearer"
    assert "email" in spec["components"]["schemas"]["SignupRequest"]["properties"]
    assert api_client.get("/api/docs/").status_code == 200
    assert_openapi_schema_valid()


def test_admin_manages_users(client, make_user):
    admin = make_user("root@example.com", is_staff=True, is_superuser=True)
    make_user("someone@example.com")
    client.force_login(admin)
    listing = client.get("/admin/accounts/user/")
    assert listing.status_code == 200 and b"someone@example.com" in listing.content
    assert client.get("/admin/accounts/user/add/").status_code == 200


def test_readyz_is_503_naming_the_database_when_it_is_down(api_client, db, monkeypatch):
    from django.db import OperationalError, connection

    def down():
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", down)
    response = api_client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "checks": {"database": "error: OperationalError"}}


def test_the_admin_login_is_limited_like_the_apis(client, make_user, settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 3
    make_user("root@example.com", is_staff=True, is_superuser=True)
    form = {"username": "ROOT@example.com"}
    for _ in range(3):
        assert client.post("/admin/login/", {**form, "password": "guess"}).status_code == 200
    throttled = client.post("/admin/login/", {**form, "password": PASSWORD})
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    # The API's login counts the same failures: they are guesses at the same password.
    api = client.post("/api/users/login/", {"email": "root@example.com", "password": PASSWORD},
                      content_type="application/json")  # fmt: skip
    assert api.status_code == 429
    assert client.post("/admin/login/", {**form, "password": PASSWORD}, REMOTE_ADDR="10.0.0.9").status_code == 302


def test_the_admin_can_be_turned_off(client, serve_admin):
    assert client.get("/admin/login/").status_code == 200  # on by default, here only
    serve_admin(False)
    response = client.get("/admin/login/")
    assert response.status_code == 404 and response.json() == {"detail": "Not found."}
