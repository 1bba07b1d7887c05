from django.db import models


class OutboxEvent(models.Model):
    """An event written in the same transaction as the change it describes.

    The relay publishes rows in ``id`` order (per key) and sets ``published_at`` once the
    broker acknowledged them; published rows are pruned after the retention period.
    """

    id = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(unique=True)
    event_type = models.CharField(max_length=64)
    topic = models.CharField(max_length=128)
    key = models.CharField(max_length=128)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    # Set when the broker can never take this event (too large, invalid); the rest of its
    # key waits behind it until an operator retries it (admin action) or deletes the row.
    parked_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # The relay's scan: unpublished rows in order. Partial, so it stays small.
            models.Index(
                fields=["id"],
                name="outbox_pending_idx",
                condition=models.Q(published_at__isnull=True, parked_at__isnull=True),
            ),
            models.Index(fields=["published_at"], name="outbox_published_idx"),
        ]

    def __str__(self) -> str:
        state = "published" if self.published_at else "parked" if self.parked_at else "pending"
        return f"{self.event_type} {self.key} ({state})"
