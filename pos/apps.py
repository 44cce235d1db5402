from django.apps import AppConfig


class KernelConfig(AppConfig):
    name = "pos"
    label = "pos"
    verbose_name = "Kernel (events, idempotency)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from pos import checks  # noqa: F401 - registers the system checks

        # Event schemas and every module's subscriptions (their `handlers.py`).
        for name in ("inventory", "payment", "pos_core", "restaurant"):
            __import__(f"pos.contracts.{name}")
        autodiscover_modules("handlers")
