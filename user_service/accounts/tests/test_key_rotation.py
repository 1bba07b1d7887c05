"""Rotating the signing key: tokens name their key (kid); after a rotation those signed with
the previous key keep working until they expire, and new ones are signed with the new key."""

import secrets

import jwt
import pytest

from conftest import bearer
from servicekit.jwt import JWTRole, hmac_kid, simple_jwt_settings
from servicekit.testkit.tokens import fake_env, rsa_keypair

pytestmark = pytest.mark.django_db
ME, REFRESH = "/api/users/me/", "/api/users/token/refresh/"


def configure(settings, **env):
    """The service restarted with these JWT_* variables."""
    settings.SIMPLE_JWT = simple_jwt_settings(role=JWTRole.ISSUER, env=fake_env(env))


def kid(token):
    return jwt.get_unverified_header(token)["kid"]


def test_hs256_rotation(api_client, signup, settings):
    old_key, new_key = secrets.token_urlsafe(48), secrets.token_urlsafe(48)
    configure(settings, JWT_SIGNING_KEY=old_key)
    before = signup()
    assert kid(before["access"]) == hmac_kid(old_key)

    configure(settings, JWT_SIGNING_KEY=new_key, JWT_PREVIOUS_SIGNING_KEYS=old_key)
    assert api_client.get(ME, **bearer(before["access"])).status_code == 200
    refreshed = api_client.post(REFRESH, {"refresh": before["refresh"]}, format="json").json()
    assert kid(refreshed["access"]) == kid(refreshed["refresh"]) == hmac_kid(new_key)
    assert api_client.get(ME, **bearer(refreshed["access"])).status_code == 200

    # Once the old tokens have expired, the previous key is dropped: they are refused.
    configure(settings, JWT_SIGNING_KEY=new_key)
    assert api_client.get(ME, **bearer(before["access"])).status_code == 401
    assert api_client.get(ME, **bearer(refreshed["access"])).status_code == 200


def test_rs256_rotation_and_the_jwks(api_client, signup, settings):
    old_private, old_public = rsa_keypair()
    rsa_keypair.cache_clear()
    new_private, new_public = rsa_keypair()
    rsa_keypair.cache_clear()
    configure(settings, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY=old_private, JWT_PUBLIC_KEY=old_public)
    before = signup()
    configure(settings, JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY=new_private, JWT_PUBLIC_KEY=new_public,
              JWT_PREVIOUS_PUBLIC_KEYS=old_public)  # fmt: skip
    keys = api_client.get("/.well-known/jwks.json").json()["keys"]
    after = api_client.post(REFRESH, {"refresh": before["refresh"]}, format="json").json()
    assert [k["kid"] for k in keys] == [kid(after["access"]), kid(before["access"])]
    for token, key in ((after["access"], keys[0]), (before["access"], keys[1])):
        assert api_client.get(ME, **bearer(token)).status_code == 200
        # What a verifier outside does with the JWKS: the key the token names verifies it.
        assert jwt.decode(token, jwt.PyJWK(key).key, algorithms=["RS256"], audience="microservices")
