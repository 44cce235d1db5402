from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "modules.inventory"
    label = "inventory"
    verbose_name = "Inventory (products, stock, reservations)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from django.conf import settings

        from .conf import expiry_sweep_seconds

        # Reservations past their expiry give their stock back (beat runs this in service mode).
        settings.CELERY_BEAT_SCHEDULE["inventory.expire_reservations"] = {
            "task": "inventory.expire_reservations",
            "schedule": timedelta(seconds=expiry_sweep_seconds()),
        }
