"""``manage.py scopes``: who holds which token scope; grant and revoke them."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.models import Permission
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from accounts.models import User
from accounts.tokens import SCOPE_PERMISSIONS, scopes_for
from servicekit.tokens import Scope


def _permission(scope: Scope) -> Permission:
    app_label, codename = SCOPE_PERMISSIONS[scope].split(".")
    return Permission.objects.get(content_type__app_label=app_label, codename=codename)


def _holders(scope: Scope) -> list[dict[str, str]]:
    """Every active user the scope is issued to, and why."""
    permission = _permission(scope)
    users = (
        User.objects.filter(Q(user_permissions=permission) | Q(groups__permissions=permission) | Q(is_superuser=True))
        .filter(is_active=True)
        .distinct()
        .order_by("email")
        .prefetch_related("groups__permissions", "user_permissions")
    )
    holders = []
    for user in users:
        via = [f"group {g.name}" for g in user.groups.all() if permission in g.permissions.all()]
        if permission in user.user_permissions.all():
            via.insert(0, "granted")
        if user.is_superuser:
            via.append("superuser")
        holders.append({"scope": scope.value, "email": user.email, "via": ", ".join(via)})
    return holders


class Command(BaseCommand):
    help = (
        "List who is issued which token scope, or grant or revoke one. A scope is a Django permission "
        "(accounts.tokens.SCOPE_PERMISSIONS), also grantable to a group in the admin; superusers hold them "
        "all. It applies to the tokens issued after the change. Examples: "
        "`manage.py scopes`, `manage.py scopes grant events:read-all ops@example.com`, "
        "`manage.py scopes revoke events:read-all ops@example.com`."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("action", nargs="?", choices=["list", "grant", "revoke"], default="list")
        parser.add_argument("scope", nargs="?", choices=[scope.value for scope in Scope])
        parser.add_argument("email", nargs="?")
        parser.add_argument("--json", action="store_true", help="one JSON object per line")

    def handle(self, *args: Any, action: str, scope: str | None, email: str | None, **options: Any) -> None:
        if action == "list":
            self._list([Scope(scope)] if scope else list(SCOPE_PERMISSIONS), as_json=options["json"])
            return
        if not (scope and email):
            raise CommandError(f"{action} needs a scope and an email: scopes {action} events:read-all a@example.com")
        user = User.objects.filter(email=User.objects.normalize_email(email)).first()
        if user is None:
            raise CommandError(f"no user {email}")
        permission = _permission(Scope(scope))
        if action == "grant":
            user.user_permissions.add(permission)
            self.stdout.write(f"granted {scope} to {user.email}")
            return
        user.user_permissions.remove(permission)
        if scope in scopes_for(User.objects.get(pk=user.pk)):  # a fresh object: has_perm caches
            raise CommandError(f"{user.email} still holds {scope}, through a group or as a superuser")
        self.stdout.write(f"revoked {scope} from {user.email}")

    def _list(self, scopes: list[Scope], *, as_json: bool) -> None:
        for holder in (holder for scope in scopes for holder in _holders(scope)):
            line = f"{holder['scope']} {holder['email']} ({holder['via']})"
            self.stdout.write(json.dumps(holder) if as_json else line)
