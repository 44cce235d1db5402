from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OpsConfig(AppConfig):
    """Operator commands that span modules. They call module apis only, never module internals."""

    name = "ops"
    label = "ops"
    verbose_name = "Operations"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from celery.schedules import crontab
        from django.conf import settings

        hour, _, minute = settings.RECONCILE_AT.partition(":")
        settings.CELERY_BEAT_SCHEDULE.setdefault("ops.reconcile", {
            "task": "ops.reconcile",
            "schedule": crontab(hour=int(hour), minute=int(minute or 0)),
        })


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the back office as its default site (`admin.site` everywhere is that site)."""

    default = False  # the ops app itself is configured by OpsConfig
    default_site = "ops.backoffice.site.BackOfficeSite"
