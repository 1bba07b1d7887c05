from django.db import models
from django.utils import timezone


class ThrottleAttempt(models.Model):
    """One counted attempt at a rate-limited action, under a hashed key naming the action and
    who tried it (``servicekit.throttling``): a failed login per email and address, a sign-up
    per address... It counts until ``expires_at``, when it may be deleted."""

    key = models.CharField(max_length=80)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["key", "created_at"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.key} at {self.created_at:%Y-%m-%d %H:%M:%S}"
