"""Token scopes: only users granted a scope's permission get it, whatever their is_staff."""

import json
from io import StringIO

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.management import CommandError, call_command

from conftest import PASSWORD
from servicekit.tokens import AccessToken

pytestmark = pytest.mark.django_db


def tokens(client, email):
    response = client.post("/api/users/login/", {"email": email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def access_claims(token):
    return AccessToken(token).payload


def read_all_events():
    return Permission.objects.get(codename="read_all_events")


def scopes(*args):
    out = StringIO()
    call_command("scopes", *args, stdout=out)
    return out.getvalue().splitlines()


def test_no_scope_without_the_permission_not_even_for_staff(api_client, make_user):
    make_user("plain@example.com")
    make_user("staff@example.com", is_staff=True)
    for email in ("plain@example.com", "staff@example.com"):
        claims = access_claims(tokens(api_client, email)["access"])
        assert "scope" not in claims and "is_staff" not in claims, email


def test_the_permission_directly_through_a_group_or_as_superuser_issues_the_scope(api_client, make_user):
    make_user("direct@example.com").user_permissions.add(read_all_events())
    ops = Group.objects.create(name="ops")
    ops.permissions.add(read_all_events())
    make_user("member@example.com").groups.add(ops)
    make_user("root@example.com", is_superuser=True)
    for email in ("direct@example.com", "member@example.com", "root@example.com"):
        assert access_claims(tokens(api_client, email)["access"])["scope"] == "events:read-all", email


def test_a_revoked_scope_is_gone_from_the_next_token(api_client, make_user):
    make_user("ops@example.com")
    assert scopes("grant", "events:read-all", "OPS@example.com") == ["granted events:read-all to ops@example.com"]
    pair = tokens(api_client, "ops@example.com")
    assert access_claims(pair["access"])["scope"] == "events:read-all"
    assert scopes("revoke", "events:read-all", "ops@example.com") == ["revoked events:read-all from ops@example.com"]
    refreshed = api_client.post("/api/users/token/refresh/", {"refresh": pair["refresh"]}, format="json").json()
    assert "scope" not in access_claims(refreshed["access"])


def test_scopes_lists_who_holds_each_and_why(make_user):
    make_user("direct@example.com").user_permissions.add(read_all_events())
    ops = Group.objects.create(name="ops")
    ops.permissions.add(read_all_events())
    make_user("member@example.com").groups.add(ops)
    make_user("root@example.com", is_superuser=True)
    make_user("gone@example.com", is_superuser=True, is_active=False)
    make_user("plain@example.com", is_staff=True)
    assert scopes() == [
        "events:read-all direct@example.com (granted)",
        "events:read-all member@example.com (group ops)",
        "events:read-all root@example.com (superuser)",
    ]
    assert json.loads(scopes("list", "--json")[1]) == {
        "scope": "events:read-all",
        "email": "member@example.com",
        "via": "group ops",
    }


def test_scopes_refuses_what_it_cannot_do(make_user):
    ops = Group.objects.create(name="ops")
    ops.permissions.add(read_all_events())
    make_user("member@example.com").groups.add(ops)
    with pytest.raises(CommandError, match="still holds events:read-all"):
        scopes("revoke", "events:read-all", "member@example.com")
    with pytest.raises(CommandError, match="no user"):
        scopes("grant", "events:read-all", "nobody@example.com")
    with pytest.raises(CommandError, match="needs a scope and an email"):
        scopes("grant")
