from uuid import UUID

from django.db.models import QuerySet

from activity.models import Event, UserActivity
from servicekit.inbox.models import DeletedUser


def event_list(*, user_id: UUID, everyone: bool = False, event_type: str | None = None) -> QuerySet[Event]:
    """Events about ``user_id`` (all users' when ``everyone``), newest first. None for a
    deleted user: their events are erased."""
    events = Event.objects.all() if everyone else Event.objects.filter(user_id=user_id)
    if event_type:
        events = events.filter(type=event_type)
    return events.order_by("-time", "-received_at")


def activity_get(*, user_id: UUID) -> UserActivity:
    """The user's summary, with ``account_deleted``; an all-zero one (not stored) for a user
    with no events yet, or whose account was deleted (their summary is erased)."""
    activity = UserActivity.objects.filter(user_id=user_id).first()
    if activity is not None:
        activity.account_deleted = False  # only a user who is not deleted has a summary
        return activity
    activity = UserActivity(user_id=user_id)
    activity.account_deleted = DeletedUser.objects.filter(user_id=user_id).exists()
    return activity
