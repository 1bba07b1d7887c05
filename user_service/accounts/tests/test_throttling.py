"""Failed logins are limited per email and address, per email and per address, sign-ups and
password-reset requests per address: in the database, and so that no neighbour can lock
someone else out."""

from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import PASSWORD
from servicekit.throttling.limits import throttle_key
from servicekit.throttling.models import ThrottleAttempt

pytestmark = pytest.mark.django_db
LOGIN, SIGNUP = "/api/users/login/", "/api/users/signup/"


@pytest.fixture(autouse=True)
def small_limits(settings):
    settings.LOGIN_MAX_FAILURES_PER_EMAIL_AND_ADDRESS = 3
    settings.LOGIN_FAILURE_WINDOW_SECONDS = 60
    settings.LOGIN_MAX_FAILURES_PER_EMAIL = 6
    settings.LOGIN_EMAIL_FAILURE_WINDOW_SECONDS = 600
    settings.LOGIN_MAX_FAILURES_PER_ADDRESS = 8
    settings.SIGNUP_MAX_PER_ADDRESS = 3
    settings.SIGNUP_WINDOW_SECONDS = 600


def login(client, email="alice@example.com", password="wrong-password", address="10.0.0.1"):
    return client.post(LOGIN, {"email": email, "password": password}, format="json", REMOTE_ADDR=address)


def test_failures_for_one_email_from_one_address_are_429_with_retry_after(api_client, make_user):
    make_user()
    for _ in range(3):
        assert login(api_client).status_code == 401
    throttled = login(api_client, password=PASSWORD)  # even the right password, from there
    assert throttled.status_code == 429
    assert 1 <= int(throttled["Retry-After"]) <= 60
    assert throttled.json()["detail"].startswith("Too many failed login attempts. Try again later.")


def test_a_neighbour_guessing_cannot_lock_the_owner_out(api_client, make_user):
    """The attacker's address is locked for this email; the owner, elsewhere, is not."""
    make_user()
    for _ in range(10):
        login(api_client, address="203.0.113.66")
    assert login(api_client, address="203.0.113.66").status_code == 429
    assert login(api_client, password=PASSWORD, address="198.51.100.7").status_code == 200


def test_guessing_spread_over_many_addresses_meets_the_slower_per_email_limit(api_client, make_user):
    make_user()
    for i in range(6):  # two from each of three addresses: under the per-address-and-email limit
        assert login(api_client, address=f"10.0.1.{i // 2}").status_code == 401
    throttled = login(api_client, password=PASSWORD, address="10.0.9.9")
    assert throttled.status_code == 429
    assert 590 <= int(throttled["Retry-After"]) <= 600
    make_user("bob@example.com")
    assert login(api_client, "bob@example.com", PASSWORD, address="10.0.9.9").status_code == 200


def test_one_address_trying_many_emails_meets_the_per_address_limit(api_client, make_user):
    make_user("victim@example.com")
    for i in range(8):
        assert login(api_client, email=f"guess{i}@example.com").status_code == 401
    assert login(api_client, email="victim@example.com", password=PASSWORD).status_code == 429
    assert login(api_client, email="victim@example.com", password=PASSWORD, address="10.0.0.2").status_code == 200


def test_people_behind_one_nat_do_not_lock_each_other_out(api_client, make_user):
    """One of them locked out of their own account for a while does not touch the others."""
    for name in ("ann", "ben", "cat"):
        make_user(f"{name}@example.com")
    for _ in range(3):
        login(api_client, "ann@example.com")
    assert login(api_client, "ann@example.com", PASSWORD).status_code == 429
    for name in ("ben", "cat"):
        assert login(api_client, f"{name}@example.com", "typo").status_code == 401
        assert login(api_client, f"{name}@example.com", PASSWORD).status_code == 200


def test_email_limits_are_case_insensitive(api_client, make_user):
    make_user()
    for email in ["alice@example.com", "ALICE@example.com", "Alice@Example.com"]:
        assert login(api_client, email=email).status_code == 401
    assert login(api_client).status_code == 429


def test_unknown_email_and_wrong_password_look_the_same(api_client, make_user):
    make_user()
    unknown = login(api_client, email="nobody@example.com", address="10.0.0.7")
    wrong = login(api_client, address="10.0.0.8")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json()


def test_throttle_recovers_after_the_window(api_client, make_user):
    make_user()
    for _ in range(3):
        login(api_client)
    assert login(api_client, password=PASSWORD).status_code == 429
    ThrottleAttempt.objects.update(created_at=timezone.now() - timedelta(seconds=601), expires_at=timezone.now())
    assert login(api_client, password=PASSWORD).status_code == 200


def test_success_forgets_the_failures_of_that_email_from_that_address(api_client, make_user):
    make_user()
    for _ in range(2):
        login(api_client)
    assert login(api_client, password=PASSWORD).status_code == 200
    for _ in range(2):
        assert login(api_client).status_code == 401
    assert login(api_client, password=PASSWORD).status_code == 200


def test_success_does_not_forget_the_per_email_and_per_address_counts(api_client, make_user):
    """A good guess at one account must not reset the guesser's count of the others."""
    make_user("mallory@example.com")
    for i in range(7):
        login(api_client, email=f"guess{i}@example.com")
    assert login(api_client, "mallory@example.com", PASSWORD).status_code == 200
    assert login(api_client, email="guess9@example.com").status_code == 401
    assert login(api_client, email="guess10@example.com").status_code == 429


def test_counter_is_shared_state_not_per_process(api_client, make_user):
    """Failures recorded by another worker (rows in the shared database) count here."""
    make_user()
    far = timezone.now() + timedelta(days=1)
    key = throttle_key("email", "alice@example.com")
    ThrottleAttempt.objects.bulk_create(ThrottleAttempt(key=key, expires_at=far) for _ in range(6))
    assert login(api_client, password=PASSWORD).status_code == 429


def test_x_forwarded_for_is_ignored_without_trusted_proxies(api_client, make_user):
    make_user()
    for i in range(8):
        api_client.post(
            LOGIN,
            {"email": f"x{i}@example.com", "password": "bad"},
            format="json",
            REMOTE_ADDR="10.0.0.1",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{i}",
        )
    assert login(api_client, password=PASSWORD).status_code == 429


def fail_from(api_client, *forwarded_for, peer="10.0.0.1"):
    """One failed login (each for another email) per X-Forwarded-For value."""
    for i, header in enumerate(forwarded_for):
        api_client.post(LOGIN, {"email": f"x{i}@example.com", "password": "bad"}, format="json",
                        REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=header)  # fmt: skip


def login_via(api_client, forwarded_for, peer="10.0.0.1"):
    return api_client.post(LOGIN, {"email": "alice@example.com", "password": PASSWORD}, format="json",
                           REMOTE_ADDR=peer, HTTP_X_FORWARDED_FOR=forwarded_for)  # fmt: skip


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(api_client, make_user, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.0/24"]
    make_user()
    fail_from(api_client, *["192.0.2.7"] * 8)
    assert login_via(api_client, "192.0.2.7").status_code == 429
    assert login_via(api_client, "192.0.2.8").status_code == 200  # another client behind the same proxy


def test_a_client_cannot_choose_its_address_through_a_trusted_proxy(api_client, make_user, settings):
    """The proxy appends the address it saw: whatever the client wrote before it is not believed."""
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    make_user()
    fail_from(api_client, *(f"198.51.100.{i}, 192.0.2.7" for i in range(8)))
    assert login_via(api_client, "203.0.113.1, 192.0.2.7").status_code == 429


def test_forwarded_for_from_a_peer_that_is_not_trusted_is_ignored(api_client, make_user, settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    make_user()
    fail_from(api_client, *(f"192.0.2.{i}" for i in range(8)), peer="10.9.9.9")
    assert login_via(api_client, "192.0.2.50", peer="10.9.9.9").status_code == 429


def test_the_table_holds_no_email_addresses(api_client, make_user):
    make_user()
    login(api_client)
    assert ThrottleAttempt.objects.count() == 3
    assert not ThrottleAttempt.objects.filter(key__contains="alice").exists()


def test_parallel_guesses_cannot_outrun_the_limit(make_user, transactional_db, settings):
    """Many wrong passwords at once: each is counted before its password is checked, so
    at most the limit of them are even tried; the rest are 429."""
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connection
    from rest_framework.test import APIClient

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]  # a real, slow check
    make_user()

    def guess(i):
        try:
            return login(APIClient(), address="10.1.0.1").status_code
        finally:
            connection.close()

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(guess, range(12)))
    # Never more password checks than the limit (concurrent ones may refuse each other).
    assert statuses.count(401) <= 3 and statuses.count(401) + statuses.count(429) == 12


@pytest.mark.parametrize(
    "email",
    ["İ" * 200 + "@example.com", "a@" + ".".join(["İ" * 20] * 7) + ".com", "a" * 300 + "@example.com", "x" * 5000],
    ids=["dotted-i-local", "dotted-i-domain", "long", "huge"],
)
def test_odd_emails_are_4xx_never_500(api_client, email):
    assert login(api_client, email=email).status_code in (400, 401)
    signup = api_client.post("/api/users/signup/", {"email": email, "password": PASSWORD}, format="json")
    assert signup.status_code == 400 and "email" in signup.json()


def sign_up(client, email, password=PASSWORD, address="10.0.0.1", **headers):
    return client.post(SIGNUP, {"email": email, "password": password}, format="json", REMOTE_ADDR=address, **headers)


def test_signups_per_address_are_limited_whatever_their_outcome(api_client):
    from accounts.models import User

    assert sign_up(api_client, "a@example.com").status_code == 201
    assert sign_up(api_client, "a@example.com").status_code == 400  # taken: probing emails counts too
    assert sign_up(api_client, "b@example.com", password="123").status_code == 400
    throttled = sign_up(api_client, "c@example.com")
    assert throttled.status_code == 429
    assert 590 <= int(throttled["Retry-After"]) <= 600
    assert throttled.json()["detail"].startswith("Too many sign-ups from this address.")
    assert not User.objects.filter(email="c@example.com").exists()
    # Another address is not affected, and login is another limit.
    assert sign_up(api_client, "c@example.com", address="10.0.0.2").status_code == 201
    assert login(api_client, "a@example.com", PASSWORD).status_code == 200


def test_only_sign_up_requests_count(api_client):
    for _ in range(5):
        assert api_client.options(SIGNUP, REMOTE_ADDR="10.0.0.1").status_code == 200
    assert sign_up(api_client, "a@example.com").status_code == 201


def test_signup_limit_lifts_after_the_window_and_refused_attempts_do_not_count(api_client):
    for i in range(3):
        sign_up(api_client, f"user{i}@example.com")
    for _ in range(5):
        assert sign_up(api_client, "late@example.com").status_code == 429
    assert ThrottleAttempt.objects.count() == 3
    ThrottleAttempt.objects.update(created_at=timezone.now() - timedelta(seconds=601), expires_at=timezone.now())
    assert sign_up(api_client, "late@example.com").status_code == 201


def test_signup_limit_is_shared_state_not_per_process(api_client):
    far = timezone.now() + timedelta(days=1)
    key = throttle_key("signup-ip", "10.0.0.1")
    ThrottleAttempt.objects.bulk_create(ThrottleAttempt(key=key, expires_at=far) for _ in range(3))
    assert sign_up(api_client, "a@example.com").status_code == 429


def test_signup_limit_follows_x_forwarded_for_only_behind_a_trusted_proxy(api_client, settings):
    for i in range(3):
        sign_up(api_client, f"user{i}@example.com", HTTP_X_FORWARDED_FOR=f"192.0.2.{i}")
    assert sign_up(api_client, "more@example.com", HTTP_X_FORWARDED_FOR="192.0.2.9").status_code == 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    # Behind one proxy, the proxy's address (10.0.0.1 for all of them) no longer counts.
    assert sign_up(api_client, "more@example.com", HTTP_X_FORWARDED_FOR="192.0.2.9").status_code == 201


def test_a_request_without_a_client_address_is_counted_not_a_500(api_client, make_user):
    make_user()
    assert login(api_client, address=None).status_code == 401
    assert sign_up(api_client, "a@example.com", address=None).status_code == 201
