from django.apps import AppConfig


class ServicekitConfig(AppConfig):
    name = "servicekit"
    verbose_name = "servicekit"

    def ready(self) -> None:
        from servicekit import checks  # noqa: F401 - registers the system checks
