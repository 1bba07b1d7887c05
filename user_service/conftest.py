import pytest

from accounts.models import User

PASSWORD = "correct-horse-battery-staple"


@pytest.fixture
def make_user(db):
    def make(email: str = "alice@example.com", password: str = PASSWORD, **fields) -> User:
        return User.objects.create_user(email=email, password=password, **fields)

    return make


@pytest.fixture
def signup(api_client):
    """Signs up over HTTP and returns the response body (user, access, refresh)."""

    def do(email: str = "alice@example.com", password: str = PASSWORD) -> dict:
        response = api_client.post("/api/users/signup/", {"email": email, "password": password}, format="json")
        assert response.status_code == 201, response.content
        return response.json()

    return do


@pytest.fixture
def login(api_client):
    """Logs in over HTTP (one session each time) and returns the token pair."""

    def do(email: str = "alice@example.com", password: str = PASSWORD, **headers) -> dict:
        body = {"email": email, "password": password}
        response = api_client.post("/api/users/login/", body, format="json", **headers)
        assert response.status_code == 200, response.content
        return response.json()

    return do


def bearer(token: str) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}
