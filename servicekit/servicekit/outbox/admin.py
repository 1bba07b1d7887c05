from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from servicekit.outbox.models import OutboxEvent, PublishedEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    """Events still to publish; parked ones (the broker refused them) can be retried."""

    list_display = ["id", "event_type", "key", "created_at", "parked_at", "attempts"]
    list_filter = ["event_type", "topic", ("parked_at", admin.EmptyFieldListFilter)]
    search_fields = ["=key", "=event_id"]
    ordering = ["-id"]
    actions = ["retry"]

    @admin.action(description="Retry the selected parked events")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        from servicekit.outbox.relay import retry_parked

        count = retry_parked(queryset.filter(parked_at__isnull=False).values_list("id", flat=True))
        self.message_user(request, f"{count} event(s) will be published again.")


@admin.register(PublishedEvent)
class PublishedEventAdmin(ReadOnlyAdmin):
    """What was published, kept for OUTBOX_RETENTION_HOURS (the payload is on the topic)."""

    list_display = ["id", "event_type", "key", "created_at", "published_at"]
    list_filter = ["event_type", "topic"]
    search_fields = ["=key", "=event_id"]
    ordering = ["-id"]
