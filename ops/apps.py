from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class OpsConfig(AppConfig):
    """Operator commands that span modules. They call module apis only, never module internals."""

    name = "ops"
    label = "ops"
    verbose_name = "Operations"


class BackOfficeAdminConfig(admin_apps.AdminConfig):
    """django.contrib.admin with the back office as its default site (`admin.site` everywhere is that site)."""

    default = False  # the ops app itself is configured by OpsConfig
    default_site = "ops.backoffice.site.BackOfficeSite"
