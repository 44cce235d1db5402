from django.apps import AppConfig


class PosCoreConfig(AppConfig):
    name = "modules.pos_core"
    label = "pos_core"
    verbose_name = "POS core (orders, sagas, reports)"
    default_auto_field = "django.db.models.BigAutoField"
