from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Operator commands that span modules. They call module apis only, never module internals."""

    name = "ops"
    label = "ops"
    verbose_name = "Operations"
