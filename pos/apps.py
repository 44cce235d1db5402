import importlib
from datetime import timedelta

from django.apps import AppConfig
from django.conf import settings


class KernelConfig(AppConfig):
    name = "pos"
    label = "pos"
    verbose_name = "Kernel (events, idempotency)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        from pos.db.statements import widen_statement_cache

        widen_statement_cache()  # the hot paths' long statements are parsed once per process, not per call

        from pos import checks  # noqa: F401 - registers the system checks

        # Event schemas and every module's subscriptions (their `handlers.py`).
        for name in ("inventory", "payment", "pos_core", "restaurant"):
            __import__(f"pos.contracts.{name}")
        autodiscover_modules("handlers")
        for module in settings.EVENTS_HANDLER_MODULES:
            importlib.import_module(module)

        # The periodic sweep of outbox deliveries left behind (broker down, retries due, workers lost).
        settings.CELERY_BEAT_SCHEDULE.setdefault("pos.events.sweep", {
            "task": "pos.events.sweep",
            "schedule": timedelta(milliseconds=settings.EVENTS_SWEEP_MS),
            "options": {"expires": max(settings.EVENTS_SWEEP_MS * 2 // 1000, 1)},
        })
        # Delivered events, deliveries and inbox records past their retention (refused if too short).
        from pos.events.purge import check_retention

        check_retention()
        settings.CELERY_BEAT_SCHEDULE.setdefault("pos.events.purge", {
            "task": "pos.events.purge",
            "schedule": timedelta(seconds=settings.EVENTS_PURGE_EVERY_SECONDS),
        })
        # Idempotency keys past their retention.
        settings.CELERY_BEAT_SCHEDULE.setdefault("pos.purge_idempotency_keys", {
            "task": "pos.purge_idempotency_keys",
            "schedule": timedelta(hours=1),
        })
