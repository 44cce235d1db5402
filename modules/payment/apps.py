from django.apps import AppConfig


class PaymentConfig(AppConfig):
    name = "modules.payment"
    label = "payment"
    verbose_name = "Payments and refunds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from datetime import timedelta

        from django.conf import settings

        # Payments left pending by a timeout or a lost response are settled by lookup with the provider.
        settings.CELERY_BEAT_SCHEDULE.setdefault("payment.resolve_pending", {
            "task": "payment.resolve_pending",
            "schedule": timedelta(seconds=settings.PAYMENT_RESOLVE_PENDING_EVERY_SECONDS),
        })
