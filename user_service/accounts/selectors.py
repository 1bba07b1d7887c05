"""Account reads."""

from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import Session, User


def session_list(*, user: User) -> QuerySet[Session]:
    """The user's live sessions (neither ended nor expired), the most recently used first."""
    return Session.objects.filter(user=user, revoked_at=None, expires_at__gt=timezone.now()).order_by(
        "-last_used_at", "-id"
    )
