from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts import services
from accounts.models import Session, User


class UserCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    form = UserEditForm
    add_form = UserCreationForm
    ordering = ["email"]
    list_display = ["email", "display_name", "is_active", "is_staff", "date_joined"]
    list_filter = ["is_active", "is_staff", "is_superuser"]
    search_fields = ["email", "display_name"]
    readonly_fields = ["id", "date_joined", "last_login"]
    fieldsets = [
        (None, {"fields": ["id", "email", "password", "display_name"]}),
        ("Permissions", {"fields": ["is_active", "is_staff", "is_superuser", "groups", "user_permissions"]}),
        ("Dates", {"fields": ["date_joined", "last_login"]}),
    ]
    add_fieldsets = [(None, {"classes": ["wide"], "fields": ["email", "usable_password", "password1", "password2"]})]

    # Deleting an account here is deleting it as its owner does: announced with user.deleted
    # (or the other services would keep its content and events), and erased with it.
    def delete_model(self, request, obj: User) -> None:
        services.user_delete(user=obj)

    def delete_queryset(self, request, queryset) -> None:
        for user in queryset:
            services.user_delete(user=user)


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    """Logins and their refresh token families; an operator can end them (their tokens are
    then refused everywhere, as when the user logs out)."""

    list_display = ["user", "created_at", "last_used_at", "expires_at", "revoked_at", "revoked_reason", "ip_address"]
    list_filter = ["revoked_reason"]
    search_fields = ["user__email", "=id", "=ip_address"]
    readonly_fields = [field.name for field in Session._meta.fields]
    ordering = ["-last_used_at"]
    actions = ["end_sessions"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description="End the selected sessions")
    def end_sessions(self, request: HttpRequest, queryset: QuerySet[Session]) -> None:
        ended = services.sessions_end(session_ids=list(queryset.values_list("id", flat=True)))
        self.message_user(request, f"{ended} session(s) ended.", messages.SUCCESS)
