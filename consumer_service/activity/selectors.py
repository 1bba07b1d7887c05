from uuid import UUID

from django.db.models import QuerySet

from activity.models import Event, UserActivity


def event_list(*, user_id: UUID, everyone: bool = False, event_type: str | None = None) -> QuerySet[Event]:
    """Events about ``user_id`` (all users' when ``everyone``), newest first."""
    events = Event.objects.all() if everyone else Event.objects.filter(user_id=user_id)
    if event_type:
        events = events.filter(type=event_type)
    return events.order_by("-time", "-received_at")


def activity_get(*, user_id: UUID) -> UserActivity:
    """The user's summary; an all-zero one for a user with no events yet (not stored)."""
    return UserActivity.objects.filter(user_id=user_id).first() or UserActivity(user_id=user_id)
