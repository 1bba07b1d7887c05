from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from servicekit.outbox.models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Read-only view of the outbox; parked events (the broker refused them) can be retried."""

    list_display = ["id", "event_type", "key", "created_at", "published_at", "parked_at", "attempts"]
    list_filter = [
        "event_type",
        "topic",
        ("published_at", admin.EmptyFieldListFilter),
        ("parked_at", admin.EmptyFieldListFilter),
    ]
    search_fields = ["=key", "=event_id"]
    ordering = ["-id"]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: OutboxEvent | None = None) -> bool:
        return False

    @admin.action(description="Retry the selected parked events")
    def retry(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        count = queryset.filter(published_at__isnull=True).update(parked_at=None, attempts=0, last_error="")
        self.message_user(request, f"{count} event(s) will be published again.")
