"""The admin: off unless enabled, and where it is, its login limited like the API's."""

import pytest

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/"


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_user("root", password="right-password", is_staff=True)


@pytest.fixture
def small_limits(settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 3
    settings.LOGIN_MAX_FAILURES_PER_EMAIL = 10
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 10


def log_in(client, password, address="10.0.0.1", username="root"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def test_the_admin_is_not_served_unless_enabled(client):
    assert client.get(LOGIN).status_code == 404


@pytest.mark.usefixtures("admin_enabled", "small_limits")
def test_admin_logins_are_limited_like_the_apis_and_a_neighbour_cannot_lock_the_staff_out(client, staff):
    for _ in range(3):
        assert log_in(client, "wrong").status_code == 200  # the form again, with its error
    throttled = log_in(client, "right-password")  # even the right one, from there
    assert throttled.status_code == 429 and int(throttled["Retry-After"]) >= 1
    assert b"Too many failed login attempts" in throttled.content
    assert not client.session.get("_auth_user_id")
    signed_in = log_in(client, "right-password", address="10.0.0.2")
    assert signed_in.status_code == 302 and client.session["_auth_user_id"] == str(staff.pk)


@pytest.mark.usefixtures("admin_enabled", "small_limits")
def test_a_good_admin_login_forgets_the_failures_from_that_address(client, staff):
    for _ in range(2):
        log_in(client, "wrong")
    assert log_in(client, "right-password").status_code == 302
    client.logout()
    for _ in range(2):
        log_in(client, "wrong")
    assert log_in(client, "right-password").status_code == 302
