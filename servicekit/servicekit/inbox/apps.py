from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "servicekit.inbox"
    label = "inbox"
    default_auto_field = "django.db.models.BigAutoField"
