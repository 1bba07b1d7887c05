import uuid

from django.db import models


class Widget(models.Model):
    """A per-user resource, as a service would have one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.UUIDField()
    title = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [models.Index(fields=["user_id", "-created_at"], name="widget_user_created_idx")]

    def __str__(self) -> str:
        return self.title


class Applied(models.Model):
    """An event the test consumer applied, in the order it did."""

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=128)
    subject = models.CharField(max_length=128)

    def __str__(self) -> str:
        return f"{self.event_type} {self.subject}"
