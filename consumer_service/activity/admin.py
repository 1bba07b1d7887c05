from django.contrib import admin

from activity.models import Event, UserActivity


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ["time", "type", "user_id", "subject", "topic", "partition", "offset"]
    list_filter = ["type", "topic"]
    search_fields = ["=user_id", "=subject", "=id"]
    ordering = ["-time"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(UserActivity)
class UserActivityAdmin(admin.ModelAdmin):
    list_display = ["user_id", "posts", "notes", "events_seen", "last_activity_at"]
    search_fields = ["=user_id"]
    ordering = ["-last_activity_at"]
