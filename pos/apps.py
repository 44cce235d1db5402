from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "pos"
    label = "pos"
    verbose_name = "Kernel (events, idempotency)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from pos import checks  # noqa: F401 - registers the system checks
