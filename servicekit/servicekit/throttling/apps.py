from django.apps import AppConfig


class ThrottlingConfig(AppConfig):
    name = "servicekit.throttling"
    label = "throttling"
    verbose_name = "throttling"
    default_auto_field = "django.db.models.BigAutoField"
