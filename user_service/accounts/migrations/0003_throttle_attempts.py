from datetime import timedelta

from django.conf import settings
from django.db import migrations, models
from django.db.models import F


def expire_login_attempts(apps, schema_editor):
    """The rows so far are login attempts: they keep counting for the login window."""
    window = timedelta(seconds=getattr(settings, "LOGIN_FAILURE_WINDOW_SECONDS", 300))
    apps.get_model("accounts", "ThrottleAttempt").objects.update(expires_at=F("created_at") + window)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_read_all_events_permission"),
    ]

    operations = [
        migrations.RenameModel("LoginAttempt", "ThrottleAttempt"),
        migrations.RenameIndex(
            model_name="throttleattempt", new_name="accounts_th_key_c53504_idx", old_name="accounts_lo_key_46bbb7_idx"
        ),
        migrations.RemoveIndex(model_name="throttleattempt", name="accounts_lo_created_597055_idx"),
        migrations.AddField(model_name="throttleattempt", name="expires_at", field=models.DateTimeField(null=True)),
        migrations.RunPython(expire_login_attempts, migrations.RunPython.noop),
        migrations.AlterField(model_name="throttleattempt", name="expires_at", field=models.DateTimeField()),
        migrations.AddIndex(
            model_name="throttleattempt",
            index=models.Index(fields=["expires_at"], name="accounts_th_expires_2cd2d8_idx"),
        ),
    ]
