from django.db import models


class OutboxEvent(models.Model):
    """An event still to publish, written in the same transaction as the change it describes.

    The relay publishes rows in ``id`` order per key and, once the broker acknowledged
    them, moves them to :class:`PublishedEvent`: this table holds only what is pending
    (or parked), so claiming stays cheap however many events were ever published.
    """

    id = models.BigAutoField(primary_key=True)
    # Unique by construction (uuid4); no index: only operators look rows up by it.
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    topic = models.CharField(max_length=128)
    key = models.CharField(max_length=128)
    payload = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when the broker can never take this event (too large, invalid); the rest of its
    # key waits behind it until an operator retries it or discards it.
    parked_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        indexes = [
            # The claim skips keys with a parked row (servicekit.outbox.relay, BLOCKED_KEY);
            # parked rows are rare, so this index stays tiny.
            models.Index(fields=["key"], name="outbox_parked_key_idx", condition=models.Q(parked_at__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.key} ({'parked' if self.parked_at else 'pending'})"


class PublishedEvent(models.Model):
    """What was published and when, kept ``OUTBOX_RETENTION_HOURS`` for operators.

    Without the payload: the topic holds the event itself, and personal data is not kept
    in two places (a published event's payload leaves this database at once).
    """

    id = models.BigIntegerField(primary_key=True)  # the outbox row's id: the order it was written in
    event_id = models.UUIDField()
    event_type = models.CharField(max_length=64)
    topic = models.CharField(max_length=128)
    key = models.CharField(max_length=128)
    created_at = models.DateTimeField()
    published_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.event_type} {self.key} (published {self.published_at:%Y-%m-%d %H:%M:%S})"
