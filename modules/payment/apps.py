from django.apps import AppConfig


class PaymentConfig(AppConfig):
    name = "modules.payment"
    label = "payment"
    verbose_name = "Payments and refunds"
    default_auto_field = "django.db.models.BigAutoField"
