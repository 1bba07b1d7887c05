from django.db import models


class ProcessedEvent(models.Model):
    """An event this service has applied; written in the same transaction as the effect."""

    event_id = models.UUIDField(primary_key=True)
    event_type = models.CharField(max_length=128)
    topic = models.CharField(max_length=128)
    partition = models.IntegerField()
    offset = models.BigIntegerField()
    processed_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} ({self.topic}[{self.partition}]@{self.offset})"


class DeletedUser(models.Model):
    """A user whose ``user.deleted`` this service has applied (an id, not the person): a
    resource service refuses their writes (servicekit.resources), consumer_service stores
    none of their later events (activity.services)."""

    user_id = models.UUIDField(primary_key=True)
    deleted_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return str(self.user_id)
