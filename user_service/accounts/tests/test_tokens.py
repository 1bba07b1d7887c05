"""Token attacks answer 401, in HS256 and in RS256 mode; RS256 verifiers cannot mint."""

import base64
import json
import time
import uuid

import pytest

from conftest import PASSWORD
from servicekit.jwt import JWTRole
from servicekit.testkit.tokens import MALFORMED_CLAIMS, forge_token, rsa_keypair, token_backend_for, with_claims
from servicekit.tokens import AccessToken

pytestmark = pytest.mark.django_db
ME = "/api/users/me/"


@pytest.fixture(params=["HS256", "RS256"])
def mode(request, use_jwt_backend, settings):
    """Runs a test once with the shared HS256 secret and once with an RS256 key pair."""
    if request.param == "HS256":
        return {
            "alg": "HS256",
            "key": settings.SIMPLE_JWT["SIGNING_KEY"],
            "wrong_key": "another-secret-of-a-decent-length-too",
        }
    private, public = rsa_keypair()
    use_jwt_backend(
        token_backend_for(JWTRole.ISSUER, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY=private, JWT_PUBLIC_KEY=public)
    )
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ALGORITHM": "RS256", "VERIFYING_KEY": public}
    other_private, _ = _other_keypair()
    return {"alg": "RS256", "key": private, "wrong_key": other_private, "public": public}


def _other_keypair():
    rsa_keypair.cache_clear()
    try:
        return rsa_keypair()
    finally:
        rsa_keypair.cache_clear()


def claims(subject, **overrides):
    now = int(time.time())
    base = {
        "token_type": "access",
        "user_id": str(subject),
        "jti": uuid.uuid4().hex,
        "iat": now,
        "exp": now + 300,
        "iss": "user_service",
        "aud": "microservices",
    }
    return {**base, **overrides}


def get_me(client, token):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_401(response):
    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert "detail" in response.json()


def test_properly_signed_token_is_accepted(api_client, signup, mode):
    body = signup()
    assert get_me(api_client, body["access"]).status_code == 200
    assert (
        get_me(api_client, forge_token(claims(body["user"]["id"]), key=mode["key"], algorithm=mode["alg"])).status_code
        == 200
    )


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": int(time.time()) - 10},
        {"iss": "someone-else"},
        {"aud": "other-audience"},
        {"iss": None},
        {"aud": None},
        {"token_type": "refresh"},
        {"token_type": None},
        {"user_id": str(uuid.uuid4())},
    ],
    ids=["expired", "wrong-iss", "wrong-aud", "no-iss", "no-aud", "refresh-type", "no-type", "unknown-user"],
)
def test_bad_claims_are_401(api_client, signup, mode, overrides):
    user_id = signup()["user"]["id"]
    payload = {k: v for k, v in claims(user_id, **overrides).items() if v is not None}
    assert_401(get_me(api_client, forge_token(payload, key=mode["key"], algorithm=mode["alg"])))


# The claims are checked once the signature is: HS256 alone is enough here.
@pytest.mark.parametrize("mode", ["HS256"], indirect=True)
@pytest.mark.parametrize("changes", [c for _, c in MALFORMED_CLAIMS], ids=[i for i, _ in MALFORMED_CLAIMS])
def test_malformed_claims_in_a_correctly_signed_token_are_401(api_client, signup, mode, changes):
    """The user lookup (and simplejwt's expiry check) never see a claim of the wrong type."""
    token = forge_token(with_claims(claims(signup()["user"]["id"]), changes), key=mode["key"], algorithm=mode["alg"])
    assert_401(get_me(api_client, token))


@pytest.mark.parametrize("mode", ["HS256"], indirect=True)
@pytest.mark.parametrize("changes", [c for _, c in MALFORMED_CLAIMS], ids=[i for i, _ in MALFORMED_CLAIMS])
def test_malformed_claims_in_a_correctly_signed_refresh_token_are_401(api_client, signup, mode, changes):
    payload = with_claims(claims(signup()["user"]["id"], token_type="refresh"), changes)
    token = forge_token(payload, key=mode["key"], algorithm=mode["alg"])
    response = api_client.post("/api/users/token/refresh/", {"refresh": token}, format="json")
    assert response.status_code == 401, response.content
    assert "detail" in response.json()


def test_wrong_key_is_401(api_client, signup, mode):
    user_id = signup()["user"]["id"]
    assert_401(get_me(api_client, forge_token(claims(user_id), key=mode["wrong_key"], algorithm=mode["alg"])))


def test_alg_none_is_401(api_client, signup, mode):
    user_id = signup()["user"]["id"]
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims(user_id)).encode()).rstrip(b"=").decode()
    assert_401(get_me(api_client, f"{header}.{payload}."))


def test_tampered_payload_is_401(api_client, signup, make_user, mode):
    body = signup()
    victim = make_user("victim@example.com")
    header, payload, signature = body["access"].split(".")
    decoded = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    decoded["user_id"] = str(victim.id)
    forged = base64.urlsafe_b64encode(json.dumps(decoded).encode()).rstrip(b"=").decode()
    assert_401(get_me(api_client, f"{header}.{forged}.{signature}"))


def test_refresh_token_used_as_access_is_401(api_client, signup, mode):
    assert_401(get_me(api_client, signup()["refresh"]))


@pytest.mark.parametrize("mode", ["RS256"], indirect=True)
def test_rs256_public_key_as_hmac_secret_is_401(api_client, signup, mode):
    """Algorithm confusion: an HS256 token 'signed' with the published public key."""
    user_id = signup()["user"]["id"]
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=").decode()
    payload = base64.urlsafe_b64encode(json.dumps(claims(user_id)).encode()).rstrip(b"=").decode()
    import hashlib
    import hmac

    signature = hmac.new(mode["public"].encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    token = f"{header}.{payload}." + base64.urlsafe_b64encode(signature).rstrip(b"=").decode()
    assert_401(get_me(api_client, token))


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer",
        "Bearer ",
        "Bearer garbage",
        "Bearer a.b.c",
        "Bearer ....",
        "Bearer x y",
        "Bearer \u00e9t\u00e9",
        "Token abc",
    ],
)
def test_garbage_authorization_is_401(api_client, db, authorization):
    assert_401(api_client.get(ME, HTTP_AUTHORIZATION=authorization))


def test_inactive_user_token_is_401(api_client, signup):
    from accounts.models import User

    body = signup()
    User.objects.filter(id=body["user"]["id"]).update(is_active=False)
    assert_401(get_me(api_client, body["access"]))
    assert (
        api_client.post(
            "/api/users/login/", {"email": "alice@example.com", "password": PASSWORD}, format="json"
        ).status_code
        == 401
    )


def test_jwks_publishes_the_public_key_in_rs256_mode(api_client, signup, mode):
    response = api_client.get("/.well-known/jwks.json")
    if mode["alg"] == "HS256":
        assert response.status_code == 404
        return
    key = response.json()["keys"][0]
    assert key["kty"] == "RSA" and key["alg"] == "RS256" and key["use"] == "sig" and key["kid"]
    # The published key really verifies user_service's tokens.
    import jwt

    token = signup()["access"]
    public = jwt.PyJWK(key).key
    assert jwt.decode(token, public, algorithms=["RS256"], audience="microservices")["email"] == "alice@example.com"


@pytest.mark.parametrize("mode", ["RS256"], indirect=True)
def test_rs256_verifier_with_only_the_public_key(api_client, signup, mode, use_jwt_backend):
    issued = signup()["access"]
    verifier = use_jwt_backend(
        token_backend_for(JWTRole.VERIFIER, JWT_ALGORITHM="RS256", JWT_PUBLIC_KEY=mode["public"])
    )
    assert verifier.signing_key == ""
    # Accepts user_service's token ...
    assert AccessToken(issued)["email"] == "alice@example.com"
    # ... and cannot mint its own.
    token = AccessToken()
    token["user_id"] = str(uuid.uuid4())
    with pytest.raises(Exception):
        str(token)
    with pytest.raises(Exception):
        verifier.encode(claims(uuid.uuid4()))
