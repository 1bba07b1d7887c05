"""Deleting an account leaves nothing in this database that names the person, however the
account is deleted (by its owner over HTTP, or by staff in the admin)."""

import pytest
from django.contrib.admin.models import LogEntry
from django.db import connection

from accounts.models import Session, User
from conftest import PASSWORD
from servicekit.outbox.models import OutboxEvent
from servicekit.testkit.erasure import columns_containing, forms_of
from servicekit.throttling.models import ThrottleAttempt

pytestmark = pytest.mark.django_db

EMAIL = "erase.me@example.com"


def rows_mentioning(text: str) -> list[tuple[str, str, str]]:
    """Where ``text`` is in this database, as it is or base64-encoded (a JWT's claims)."""
    with connection.cursor() as cursor:
        return columns_containing(cursor, forms_of(text))


def test_deleting_the_account_leaves_nothing_that_names_the_person(api_client, signup, client, make_user):
    body = signup(EMAIL)
    auth = {"HTTP_AUTHORIZATION": f"Bearer {body['access']}"}
    api_client.patch("/api/users/me/", {"display_name": "Erase Me Please"}, format="json", **auth)
    api_client.post("/api/users/login/", {"email": EMAIL, "password": "wrong"}, format="json")  # counted
    api_client.post("/api/users/login/", {"email": EMAIL, "password": PASSWORD}, format="json")  # a 2nd token
    # Staff change the account in the admin: its history names the account by its email.
    client.force_login(make_user("root@example.com", is_staff=True, is_superuser=True))
    user = User.objects.get(email=EMAIL)
    change = client.post(f"/admin/accounts/user/{user.pk}/change/", {
        "email": EMAIL, "display_name": "Erase Me Please", "is_active": "on", "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00", "initial-date_joined_0": "2026-01-01", "initial-date_joined_1": "00:00:00",
    })  # fmt: skip
    assert change.status_code == 302 and LogEntry.objects.filter(object_repr=EMAIL).exists()
    assert {table for table, _, _ in rows_mentioning(EMAIL)} == {"accounts_user", "django_admin_log"}
    assert ThrottleAttempt.objects.exists() and Session.objects.filter(user=user).count() == 2
    api_client.post("/api/users/password-reset/", {"email": EMAIL}, format="json")  # a reset email counted

    assert api_client.delete("/api/users/me/", **auth).status_code == 204
    assert rows_mentioning(EMAIL) == [] and rows_mentioning("Erase Me Please") == []
    # Hashed, but the person's: only the counts of the client's address are left.
    kinds = {key.partition(":")[0] for key in ThrottleAttempt.objects.values_list("key", flat=True)}
    assert kinds == {"ip", "signup-ip", "reset-ip"}
    # Its sessions are gone with it (each names the account by its id, where and when it was used).
    assert api_client.post("/api/users/token/refresh/", {"refresh": body["refresh"]}, format="json").status_code == 401
    assert not Session.objects.exists()


def test_staff_deleting_an_account_in_the_admin_announce_and_erase_it_like_its_owner(client, make_user):
    client.force_login(make_user("root@example.com", is_staff=True, is_superuser=True))
    one, two = make_user(EMAIL), make_user("second@example.com")
    assert client.post(f"/admin/accounts/user/{one.pk}/delete/", {"post": "yes"}).status_code == 302
    bulk = client.post("/admin/accounts/user/", {"action": "delete_selected", "_selected_action": [two.pk],
                                                 "post": "yes"})  # fmt: skip
    assert bulk.status_code == 302
    assert not User.objects.filter(pk__in=[one.pk, two.pk]).exists()
    deleted = OutboxEvent.objects.filter(event_type="user.deleted")
    assert sorted(deleted.values_list("key", flat=True)) == sorted([str(one.pk), str(two.pk)])
    assert rows_mentioning(EMAIL) == [] and rows_mentioning("second@example.com") == []
