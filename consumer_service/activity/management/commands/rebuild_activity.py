"""``manage.py rebuild_activity``: the activity read model built again from the topics."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from activity.handlers import HANDLERS
from activity.services import activity_forget_everything
from servicekit.ops.rebuild import rebuild
from servicekit.shutdown import StopFlag
from servicekit.topics import TopicError


class Command(BaseCommand):
    help = (
        "Rebuild consumer_service's read model (events, activity summaries, known objects) from the topics: the "
        "consumer group back to the start of every topic, the model emptied, every event still on the topics "
        "applied again; then `consume_events` carries on from there. Stop consume_events first (it refuses while "
        "the group has members). Events the topics no longer hold (retention) are not recovered: republish the "
        "producers' current state first (`manage.py republish` in user, post and note services). "
        "Example: `manage.py rebuild_activity`."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = rebuild(HANDLERS, empty_model=activity_forget_everything, should_stop=StopFlag().install())
        except TopicError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(f"rebuilt the activity model from {count} message(s) on {', '.join(HANDLERS.topics)}")
