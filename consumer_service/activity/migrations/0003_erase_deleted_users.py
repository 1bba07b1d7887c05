"""Deleted users are erased, not marked: the users the summaries marked deleted lose their
events and summaries, and their ids become ``DeletedUser`` rows (so their later events are
not stored either); then the mark goes."""

from django.db import migrations


def erase_users_marked_deleted(apps, schema_editor):
    UserActivity = apps.get_model("activity", "UserActivity")
    Event = apps.get_model("activity", "Event")
    DeletedUser = apps.get_model("inbox", "DeletedUser")
    deleted = UserActivity.objects.filter(account_deleted=True)
    DeletedUser.objects.bulk_create(
        [DeletedUser(user_id=user_id) for user_id in deleted.values_list("user_id", flat=True)],
        ignore_conflicts=True,
        batch_size=1000,
    )
    Event.objects.filter(user_id__in=deleted.values("user_id")).delete()
    deleted.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("activity", "0002_longer_event_types_fewer_indexes"),
        ("inbox", "0002_longer_event_types"),
    ]

    operations = [
        # Reversed, the column comes back (all False), never what was erased.
        migrations.RunPython(erase_users_marked_deleted, migrations.RunPython.noop),
        migrations.RemoveField(model_name="useractivity", name="account_deleted"),
    ]
