from django.apps import AppConfig


class PosCoreConfig(AppConfig):
    name = "modules.pos_core"
    label = "pos_core"
    verbose_name = "POS core (orders, sagas, reports)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from django.conf import settings

        from . import handlers  # noqa: F401 - registers the event subscriptions

        settings.CELERY_BEAT_SCHEDULE.setdefault("pos_core.recover_sagas", {
            "task": "pos_core.recover_sagas",
            "schedule": timedelta(seconds=settings.POS_SAGA_RECOVERY_INTERVAL),
        })
        settings.CELERY_BEAT_SCHEDULE.setdefault("pos_core.recover_table_service", {
            "task": "pos_core.recover_table_service",
            "schedule": timedelta(seconds=settings.POS_SAGA_RECOVERY_INTERVAL),
        })
        settings.CELERY_BEAT_SCHEDULE.setdefault("pos_core.recover_refunds", {
            "task": "pos_core.recover_refunds",
            "schedule": timedelta(seconds=settings.POS_SAGA_RECOVERY_INTERVAL),
        })
