from django.db import models


class Event(models.Model):
    """Every domain event consumed, as it arrived (``id`` is the CloudEvents id)."""

    id = models.UUIDField(primary_key=True)
    type = models.CharField(max_length=128)
    source = models.CharField(max_length=128)
    subject = models.CharField(max_length=128)
    user_id = models.UUIDField()
    time = models.DateTimeField()
    data = models.JSONField(default=dict)
    topic = models.CharField(max_length=128)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # GET /api/events/: one user's events, newest first (selectors.event_list).
            models.Index(fields=["user_id", "-time"], name="event_user_time_idx"),
            # The same for everyone's events (the read-all scope).
            models.Index(fields=["-time"], name="event_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.subject}"


class KnownObject(models.Model):
    """A post or note this service has heard of, and whether it is gone: what the counters of
    :class:`UserActivity` count. Each object is counted once however many events say it
    exists (created, updated, a snapshot, a replay), and uncounted once it is deleted, in
    whatever order those events arrive; a deleted object stays as a tombstone, so a late
    event about it counts nothing."""

    subject = models.CharField(primary_key=True, max_length=128)
    user_id = models.UUIDField()
    #: The counter it is in: "posts" or "notes".
    kind = models.CharField(max_length=16)
    deleted = models.BooleanField(default=False)

    class Meta:
        # Erasing a user deletes their objects (services.users_erase).
        indexes = [models.Index(fields=["user_id"], name="knownobject_user_idx")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject}{' (deleted)' if self.deleted else ''}"


class UserActivity(models.Model):
    """Per-user summary built from events: what exists now (:class:`KnownObject`) and when
    they were last active.

    A deleted user has none (``services.users_erase``): a ``DeletedUser`` row says they were.
    """

    user_id = models.UUIDField(primary_key=True)
    posts = models.PositiveIntegerField(default=0)
    notes = models.PositiveIntegerField(default=0)
    events_seen = models.PositiveIntegerField(default=0)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    last_event_type = models.CharField(max_length=128, blank=True, default="")

    class Meta:
        verbose_name_plural = "user activity"

    def __str__(self) -> str:
        return str(self.user_id)
