"""Django admin for per-user resources: the owner's id shown and searched as a plain value."""

from django.contrib import admin


class OwnedResourceAdmin(admin.ModelAdmin):
    list_display = ["title", "user_id", "created_at", "updated_at"]
    search_fields = ["title", "=user_id"]
    readonly_fields = ["id", "created_at", "updated_at"]
    ordering = ["-created_at"]
