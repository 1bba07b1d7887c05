"""Migrations that change data, run forwards on rows written by the previous schema."""

import uuid

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

BEFORE = [("activity", "0002_longer_event_types_fewer_indexes"), ("inbox", "0002_longer_event_types")]
AFTER = [("activity", "0003_erase_deleted_users")]


@pytest.mark.django_db(transaction=True)
def test_users_marked_deleted_before_are_erased_and_their_ids_kept():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    old = executor.loader.project_state(BEFORE).apps
    Event, UserActivity = old.get_model("activity", "Event"), old.get_model("activity", "UserActivity")
    gone, kept = uuid.uuid4(), uuid.uuid4()
    for user, deleted in ((gone, True), (kept, False)):
        UserActivity.objects.create(user_id=user, events_seen=1, account_deleted=deleted)
        Event.objects.create(id=uuid.uuid4(), type="user.registered", source="user_service", subject=str(user),
                             user_id=user, time=timezone.now(), data={"email": f"{user}@example.com"},
                             topic="user_events", partition=0, offset=0)  # fmt: skip

    executor = MigrationExecutor(connection)
    executor.migrate(AFTER)
    new = executor.loader.project_state(AFTER).apps
    Event, UserActivity = new.get_model("activity", "Event"), new.get_model("activity", "UserActivity")
    DeletedUser = new.get_model("inbox", "DeletedUser")
    assert list(Event.objects.values_list("user_id", flat=True)) == [kept]
    assert list(UserActivity.objects.values_list("user_id", flat=True)) == [kept]
    assert list(DeletedUser.objects.values_list("user_id", flat=True)) == [gone]
