from django.apps import AppConfig


class RevocationConfig(AppConfig):
    name = "servicekit.revocation"
    label = "revocation"
    verbose_name = "token revocations"

    def ready(self) -> None:
        from servicekit.revocation import checks  # noqa: F401 - registers the system check
