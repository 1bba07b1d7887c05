"""RS256 end to end: user_service signs with the private key; post_service holds only the
public key, accepts user_service's tokens and rejects anything it did not sign."""

import signal
import subprocess

import jwt
import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from servicekit.devstack.launcher import SERVICES, manage, stack_processes, wait_ready
from tests.e2e.conftest import PASSWORD
from tests.e2e.stack import drop_database, new_prefix, stack_environment


def pem_pair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())  # fmt: skip
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


@pytest.fixture(scope="module")
def rs256_services(tmp_path_factory):
    keys = tmp_path_factory.mktemp("keys")
    private, public = pem_pair()
    (keys / "private.pem").write_bytes(private)
    (keys / "public.pem").write_bytes(public)
    prefix = new_prefix()
    env = stack_environment(prefix, kafka_bootstrap="127.0.0.1:9")  # no broker needed for HTTP
    env.update(JWT_ALGORITHM="RS256", JWT_PUBLIC_KEY=str(keys / "public.pem"))
    env.pop("JWT_SIGNING_KEY")
    user, post = SERVICES[0], SERVICES[1]
    wanted = {"web-user": {"JWT_PRIVATE_KEY": str(keys / "private.pem")}, "web-post": {}}
    started = []
    try:
        manage(user, {**env, **wanted["web-user"]}, "migrate", "--no-input", "-v", "0")
        manage(post, env, "migrate", "--no-input", "-v", "0")
        for process in stack_processes(env):
            if process.name in wanted:
                child_env = {**process.env, **wanted[process.name]}
                started.append(
                    subprocess.Popen(
                        process.argv,
                        cwd=process.cwd,
                        env=child_env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                )
        wait_ready(env, timeout=60, specs=(user, post), gateway=False)
        yield {"user": f"http://127.0.0.1:{env['USER_PORT']}", "post": f"http://127.0.0.1:{env['POST_PORT']}",
               "public": public}  # fmt: skip
    finally:
        for proc in started:
            proc.send_signal(signal.SIGTERM)
            proc.wait(20)
        for spec in SERVICES:
            drop_database(f"{prefix}_{spec.directory}")


def test_public_key_verifier_accepts_the_issuers_tokens_and_nothing_else(rs256_services):
    user, post = rs256_services["user"], rs256_services["post"]
    body = requests.post(f"{user}/api/users/signup/", json={"email": "rs@example.com", "password": PASSWORD},
                         timeout=10).json()  # fmt: skip
    access = body["access"]
    assert jwt.get_unverified_header(access)["alg"] == "RS256"
    ok = requests.post(f"{post}/api/posts/", json={"title": "signed elsewhere"},
                       headers={"Authorization": f"Bearer {access}"}, timeout=10)  # fmt: skip
    assert ok.status_code == 201 and ok.json()["user_id"] == body["user"]["id"]

    claims = jwt.decode(access, options={"verify_signature": False})
    other_private, _ = pem_pair()
    forgeries = {
        "another key": jwt.encode(claims, other_private, algorithm="RS256"),
        "public key as HMAC secret": hmac_with_public_key(claims, rs256_services["public"]),
        "refresh token": body["refresh"],
    }
    for name, token in forgeries.items():
        response = requests.get(f"{post}/api/posts/", headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert response.status_code == 401, name

    jwks = requests.get(f"{user}/.well-known/jwks.json", timeout=10).json()
    key = jwt.PyJWK(jwks["keys"][0])
    assert jwks["keys"][0]["kid"] and jwt.decode(access, key.key, algorithms=["RS256"], audience="microservices")


def hmac_with_public_key(claims: dict, public_pem: bytes) -> str:
    import base64
    import hashlib
    import hmac
    import json

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64(json.dumps(claims).encode())}"
    signature = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"
