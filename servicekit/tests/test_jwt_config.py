"""JWT configuration: what each role gets from the JWT_* variables, and what is refused."""

import json

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
    conf = {"ALGORITHM": "RS256", "VERIFYING_KEY": public, "PREVIOUS_VERIFYING_KEYS": []}
    first, second = jwks(conf), jwks(conf)
    assert first == second and first["keys"][0]["kid"] and first["keys"][0]["alg"] == "RS256"


# -- key rotation: a kid per key, verifiers holding the current key and the previous ones -----

KEY_A, KEY_B, KEY_C = "a" * 40, "b" * 40, "c" * 40


def rsa_pair():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public.decode()


def claims(**extra):
    import time
    import uuid

    now = time.time()
    return {"token_type": "access", "user_id": str(uuid.uuid4()), "jti": uuid.uuid4().hex, "iat": now,
            "exp": int(now) + 300, **extra}  # fmt: skip


def hs256_with_header(header, payload, key):
    """A correctly signed HS256 token with any header (PyJWT refuses a kid that is no string)."""
    import base64
    import hashlib
    import hmac

    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(key.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def backend(role=JWTRole.ISSUER, **env):
    from servicekit.testkit.tokens import token_backend_for

    return token_backend_for(role, **env)


def test_hs256_previous_keys_are_a_comma_separated_list():
    values = {"JWT_SIGNING_KEY": KEY_B, "JWT_PREVIOUS_SIGNING_KEYS": f"{KEY_A}, {KEY_C},"}
    conf = simple_jwt_settings(role=JWTRole.VERIFIER, env=env_of(values))
    assert conf["SIGNING_KEY"] == KEY_B and conf["PREVIOUS_VERIFYING_KEYS"] == [KEY_A, KEY_C]


def test_hs256_rotation_old_tokens_verify_until_they_expire_new_ones_name_the_new_key():
    import jwt
    from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

    from servicekit.jwt import hmac_kid

    before = backend(JWT_SIGNING_KEY=KEY_A).encode(claims())
    assert jwt.get_unverified_header(before)["kid"] == hmac_kid(KEY_A) != KEY_A[:16]
    rotated = backend(JWT_SIGNING_KEY=KEY_B, JWT_PREVIOUS_SIGNING_KEYS=KEY_A)
    assert rotated.decode(before)["user_id"]
    after = rotated.encode(claims())
    assert jwt.get_unverified_header(after)["kid"] == hmac_kid(KEY_B)
    with pytest.raises(TokenBackendExpiredToken):
        rotated.decode(backend(JWT_SIGNING_KEY=KEY_A).encode(claims(exp=1)))
    # Once the previous key is dropped, its tokens are refused; the new ones are not.
    done = backend(JWT_SIGNING_KEY=KEY_B)
    assert done.decode(after)
    with pytest.raises(TokenBackendError):
        done.decode(before)


def test_a_kid_no_key_has_is_refused_and_a_token_without_kid_checks_the_current_key_only():
    import jwt
    from rest_framework_simplejwt.exceptions import TokenBackendError

    from servicekit.jwt import hmac_kid

    verifier = backend(JWTRole.VERIFIER, JWT_SIGNING_KEY=KEY_B, JWT_PREVIOUS_SIGNING_KEYS=KEY_A)
    audience = {"iss": "user_service", "aud": "microservices"}
    for kid in (hmac_kid(KEY_C), "", 7, None, ["x"]):
        with pytest.raises(TokenBackendError):
            verifier.decode(hs256_with_header({"alg": "HS256", "kid": kid}, {**claims(), **audience}, KEY_B))
    assert verifier.decode(jwt.encode({**claims(), **audience}, KEY_B, algorithm="HS256"))  # no kid: current
    with pytest.raises(TokenBackendError):
        verifier.decode(jwt.encode({**claims(), **audience}, KEY_A, algorithm="HS256"))
    # A kid names the key; it never makes another key's signature valid.
    forged = jwt.encode({**claims(), **audience}, KEY_C, algorithm="HS256", headers={"kid": hmac_kid(KEY_A)})
    with pytest.raises(TokenBackendError):
        verifier.decode(forged)


@pytest.mark.parametrize(
    "token",
    [
        b"",
        "",
        ".",
        "a.b.c",
        "!!!!.e30.x",
        "e30=.e30.x",
        "W10.e30.x",
        "bnVsbA.e30.x",
        "\u00e9.e30.x",
        b"\xff\xfe.e30.x",
        "eyJhbGciOiJIUzI1NiJ9",
    ],
)
def test_a_token_whose_header_is_not_a_base64url_json_object_is_invalid(token):
    """Whatever the header segment holds (no base64url, padding junk, JSON but no object,
    bytes that are no text), the key lookup refuses it as invalid (a 401), never a 500."""
    from rest_framework_simplejwt.exceptions import TokenBackendError

    with pytest.raises(TokenBackendError):
        backend(JWTRole.VERIFIER, JWT_SIGNING_KEY=KEY_B).decode(token)


def test_rs256_rotation_verifiers_hold_the_previous_public_keys_and_the_jwks_lists_them():
    import jwt
    from rest_framework_simplejwt.exceptions import TokenBackendError

    old_private, old_public = rsa_pair()
    new_private, new_public = rsa_pair()
    before = backend(JWT_ALGORITHM="RS256", JWT_PRIVATE_KEY=old_private, JWT_PUBLIC_KEY=old_public).encode(claims())
    issuer_env = {"JWT_ALGORITHM": "RS256", "JWT_PRIVATE_KEY": new_private, "JWT_PUBLIC_KEY": new_public,
                  "JWT_PREVIOUS_PUBLIC_KEYS": old_public.replace("\n", "\\n")}  # fmt: skip
    after = backend(**issuer_env).encode(claims())
    verifier = backend(JWTRole.VERIFIER, **{k: v for k, v in issuer_env.items() if k != "JWT_PRIVATE_KEY"})
    assert verifier.decode(before) and verifier.decode(after)
    conf = simple_jwt_settings(role=JWTRole.ISSUER, env=env_of(issuer_env))
    keys = jwks(conf)["keys"]
    assert [k["kid"] for k in keys] == [jwt.get_unverified_header(t)["kid"] for t in (after, before)]
    with pytest.raises(TokenBackendError):
        backend(JWTRole.VERIFIER, JWT_ALGORITHM="RS256", JWT_PUBLIC_KEY=new_public).decode(before)
