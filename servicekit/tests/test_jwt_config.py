"""JWT configuration: what each role gets from the JWT_* variables, and what is refused."""

import pytest
from django.core.exceptions import ImproperlyConfigured

from servicekit.jwt import JWTRole, jwks, read_key, simple_jwt_settings

PUBLIC = "-----BEGIN PUBLIC KEY-----\\nAAAA\\n-----END PUBLIC KEY-----"


def env_of(values):
    def env(name, default=None, cast=None):
        value = values.get(name, default)
        return cast(value) if cast and name in values else value

    return env


def test_hs256_needs_the_shared_key_and_there_is_no_default():
    with pytest.raises(ImproperlyConfigured, match="JWT_SIGNING_KEY is not set"):
        simple_jwt_settings(role=JWTRole.VERIFIER, env=env_of({}))
    conf = simple_jwt_settings(role=JWTRole.VERIFIER, env=env_of({"JWT_SIGNING_KEY": "k" * 32}))
    assert (conf["ALGORITHM"], conf["SIGNING_KEY"], conf["ISSUER"], conf["AUDIENCE"]) == (
        "HS256", "k" * 32, "user_service", "microservices")  # fmt: skip


@pytest.mark.parametrize("algorithm", ["none", "rs256", "ES256", "EdDSA", "HS1"])
def test_unsupported_algorithms_are_refused(algorithm):
    with pytest.raises(ImproperlyConfigured, match="not supported"):
        simple_jwt_settings(role=JWTRole.ISSUER, env=env_of({"JWT_ALGORITHM": algorithm}))


def test_rs256_verifier_gets_no_signing_key_and_the_issuer_needs_one():
    values = {"JWT_ALGORITHM": "RS256", "JWT_PUBLIC_KEY": PUBLIC}
    verifier = simple_jwt_settings(role=JWTRole.VERIFIER, env=env_of(values))
    assert verifier["SIGNING_KEY"] == "" and verifier["VERIFYING_KEY"].startswith("-----BEGIN PUBLIC KEY-----\n")
    with pytest.raises(ImproperlyConfigured, match="JWT_PRIVATE_KEY"):
        simple_jwt_settings(role=JWTRole.ISSUER, env=env_of(values))
    with pytest.raises(ImproperlyConfigured, match="JWT_PUBLIC_KEY"):
        simple_jwt_settings(role=JWTRole.VERIFIER, env=env_of({"JWT_ALGORITHM": "RS256"}))


def test_keys_are_pem_text_or_a_file(tmp_path):
    path = tmp_path / "public.pem"
    path.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    assert read_key(str(path)).startswith("-----BEGIN PUBLIC KEY-----")
    with pytest.raises(ImproperlyConfigured, match="neither PEM text nor a readable file"):
        read_key(str(tmp_path / "missing.pem"))


def test_jwks_has_a_stable_thumbprint_kid():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    public = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    first, second = jwks(public, "RS256"), jwks(public, "RS256")
    assert first == second and first["keys"][0]["kid"] and first["keys"][0]["alg"] == "RS256"
