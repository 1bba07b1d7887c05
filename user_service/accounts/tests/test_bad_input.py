"""Bad input on every endpoint answers a 4xx JSON error, never a 500."""

import pytest

from conftest import PASSWORD

pytestmark = pytest.mark.django_db

SIGNUP, LOGIN, REFRESH, LOGOUT, ME = (
    "/api/users/signup/",
    "/api/users/login/",
    "/api/users/token/refresh/",
    "/api/users/logout/",
    "/api/users/me/",
)


def assert_json_error(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert isinstance(body, dict) and body
    return body


@pytest.mark.parametrize(
    "payload, field",
    [
        ({}, "email"),
        ({"password": PASSWORD}, "email"),
        ({"email": "alice@example.com"}, "password"),
        ({"email": "not-an-email", "password": PASSWORD}, "email"),
        ({"email": ["a@example.com"], "password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "password": {"x": 1}}, "password"),
        ({"email": "alice@example.com", "password": None}, "password"),
        ({"email": "a" * 250 + "@example.com", "password": PASSWORD}, "email"),
        ({"email": "alice@example.com", "password": "x" * 129}, "password"),
        ({"email": "alice@example.com", "password": "short1"}, "password"),
        ({"email": "alice@example.com", "password": "password123"}, "password"),
        ({"email": "alice@example.com", "password": "83749201847362"}, "password"),
        ({"email": "alice.wonderland@example.com", "password": "alice.wonderland"}, "password"),
        ({"email": "alice@example.com", "password": PASSWORD, "display_name": "x" * 151}, "display_name"),
        ({"email": "alice@example.com", "password": PASSWORD, "display_name": 5}, "display_name"),
        ({"email": "alice@example.com", "password": 1234567890123}, "password"),
    ],
)
def test_signup_rejects_invalid_fields(api_client, payload, field):
    body = assert_json_error(api_client.post(SIGNUP, payload, format="json"), 400)
    assert field in body


def test_weak_password_reasons_are_listed(api_client):
    body = assert_json_error(
        api_client.post(SIGNUP, {"email": "a@example.com", "password": "1234"}, format="json"), 400
    )
    reasons = " ".join(body["password"])
    assert "too short" in reasons and "too common" in reasons and "entirely numeric" in reasons


@pytest.mark.parametrize("email", ["alice@example.com", "ALICE@EXAMPLE.COM", " Alice@example.com "])
def test_duplicate_email_in_any_case_is_400(api_client, signup, email):
    signup("alice@example.com")
    body = assert_json_error(api_client.post(SIGNUP, {"email": email, "password": PASSWORD}, format="json"), 400)
    assert "already exists" in body["email"][0]


@pytest.mark.parametrize("url", [SIGNUP, LOGIN, REFRESH])
@pytest.mark.parametrize(
    "raw, content_type",
    [
        (b'{"email": ', "application/json"),
        (b"[1, 2, 3]", "application/json"),
        (b'"a string"', "application/json"),
        (b"null", "application/json"),
        (b"\xff\xfe\x00garbage", "application/json"),
        (b"email=a@example.com", "application/x-www-form-urlencoded"),
        (b"<xml/>", "text/xml"),
    ],
)
def test_malformed_bodies(api_client, url, raw, content_type):
    response = api_client.generic("POST", url, raw, content_type=content_type)
    assert response.status_code in (400, 415), response.content
    assert response.json()


@pytest.mark.parametrize("url", [SIGNUP, LOGIN, REFRESH])
def test_oversized_body_is_413(api_client, url, settings):
    body = b'{"email": "' + b"a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1) + b'"}'
    assert_json_error(api_client.generic("POST", url, body, content_type="application/json"), 413)


def test_invalid_content_length_is_400(api_client):
    response = api_client.generic("POST", LOGIN, b"{}", content_type="application/json", CONTENT_LENGTH="lots")
    assert_json_error(response, 400)


def test_a_body_that_ends_before_its_content_length_is_400(api_client):
    """The client stopped sending (the server reads what gunicorn gives, then an error)."""

    class Truncated:
        def read(self, size=-1):
            raise OSError("client disconnected")  # what gunicorn raises as NoMoreData

        readline = read

    response = api_client.generic(
        "POST", LOGIN, b"", content_type="application/json", CONTENT_LENGTH="100", **{"wsgi.input": Truncated()}
    )
    assert assert_json_error(response, 400) == {"detail": "The request body ended before its Content-Length."}


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"email": "a@example.com"},
        {"password": "x"},
        {"email": 5, "password": []},
        {"email": "a@example.com", "password": "x" * 129},
    ],
)
def test_login_bad_fields_is_400(api_client, payload):
    assert_json_error(api_client.post(LOGIN, payload, format="json"), 400)


@pytest.mark.parametrize(
    "payload", [{}, {"refresh": ""}, {"refresh": None}, {"refresh": 42}, {"refresh": ["a"]}, {"refresh": "x" * 5000}]
)
def test_refresh_bad_fields_is_400(api_client, payload):
    assert_json_error(api_client.post(REFRESH, payload, format="json"), 400)


def test_logout_bad_fields(api_client, signup):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {signup()['access']}"}
    assert_json_error(api_client.post(LOGOUT, {}, format="json", **auth), 400)
    assert_json_error(api_client.post(LOGOUT, {"refresh": 42}, format="json", **auth), 400)


def test_patch_me_bad_fields(api_client, signup):
    auth = {"HTTP_AUTHORIZATION": f"Bearer {signup()['access']}"}
    assert_json_error(api_client.patch(ME, {"email": "nope"}, format="json", **auth), 400)
    assert_json_error(api_client.patch(ME, {"display_name": ["x"]}, format="json", **auth), 400)
    assert_json_error(api_client.generic("PATCH", ME, b"{oops", content_type="application/json", **auth), 400)


@pytest.mark.parametrize("method", ["get", "put", "delete", "patch"])
def test_wrong_method_is_405_json(api_client, method):
    assert_json_error(getattr(api_client, method)(SIGNUP), 405)


def test_unknown_url_is_404_json(api_client):
    assert_json_error(api_client.get("/api/users/nope/"), 404)
    assert_json_error(api_client.get("/nothing-here"), 404)


@pytest.mark.parametrize("debug", [False, True])
def test_errors_are_json_even_in_debug(api_client, settings, debug):
    settings.DEBUG = debug
    assert_json_error(api_client.get("/no/such/page"), 404)


@pytest.mark.parametrize("debug", [False, True])
def test_unhandled_exception_is_json_500_without_traceback(api_client, signup, settings, monkeypatch, debug):
    from accounts.apis import MeApi

    settings.DEBUG = debug
    token = signup()["access"]

    def explode(*args, **kwargs):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(MeApi, "get", explode)
    api_client.raise_request_exception = False
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
    body = assert_json_error(response, 500)
    assert body == {"detail": "Internal server error."}
    assert b"secret internals" not in response.content


@pytest.mark.parametrize(
    "text, error",
    [("a\x00b", "Null characters are not allowed."),
     ("\ud800", "Unpaired surrogates are not allowed: the text must be valid Unicode.")],
    ids=["nul", "lone-surrogate"],
)  # fmt: skip
@pytest.mark.parametrize(
    "method, url, body, field",
    [("POST", SIGNUP, {"email": "a@example.com", "password": PASSWORD}, "email"),
     ("POST", SIGNUP, {"email": "a@example.com", "password": PASSWORD}, "password"),
     ("POST", SIGNUP, {"email": "a@example.com", "password": PASSWORD}, "display_name"),
     ("POST", LOGIN, {"email": "alice@example.com", "password": PASSWORD}, "email"),
     ("POST", LOGIN, {"email": "alice@example.com", "password": PASSWORD}, "password"),
     ("POST", REFRESH, {"refresh": "x"}, "refresh"),
     ("POST", LOGOUT, {"refresh": "x"}, "refresh"),
     ("PATCH", ME, {}, "email"),
     ("PATCH", ME, {}, "display_name")],
)  # fmt: skip
def test_nul_and_lone_surrogates_in_any_text_are_a_400_field_error(api_client, signup, method, url, body, field,
                                                                   text, error):  # fmt: skip
    import json

    auth = {"HTTP_AUTHORIZATION": f"Bearer {signup()['access']}"}
    raw = json.dumps({**body, field: text}).encode()  # "\ud800" escaped: valid JSON
    response = api_client.generic(method, url, raw, content_type="application/json", **auth)
    assert assert_json_error(response, 400) == {field: [error]}
