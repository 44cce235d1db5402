"""Which module a model or app belongs to, and which database alias it lives in."""

from __future__ import annotations

from django.apps import apps
from django.conf import settings

KERNEL_APP = "pos"
CONTRIB_PREFIXES = ("django.", "rest_framework", "drf_spectacular")


def module_of_app(app_label: str) -> str | None:
    """The module (`inventory`, ...) an app label belongs to; None for the kernel and third-party apps."""
    try:
        name = apps.get_app_config(app_label).name
    except LookupError:
        return None
    parts = name.split(".")
    return parts[1] if parts[0] == "modules" and len(parts) > 1 else None


def alias_of_app(app_label: str) -> str:
    module = module_of_app(app_label)
    if module is not None:
        return settings.MODULE_DATABASES[module]
    return "default"


def module_aliases() -> list[str]:
    return list(dict.fromkeys(settings.MODULE_DATABASES.values()))


def in_every_module_database(model: type) -> bool:
    """Kernel tables that every module database carries (the outbox and the inbox)."""
    return getattr(model, "in_every_module_database", False)


def import_task_modules() -> None:
    """Import every `tasks` module of the kernel and the installed apps, so their Celery tasks are registered.
    (Celery's own loader would re-run the system checks from inside them.)"""
    import importlib
    import importlib.util

    for name in ["pos", "pos.events", *(config.name for config in apps.get_app_configs())]:
        try:
            found = importlib.util.find_spec(f"{name}.tasks") is not None
        except ModuleNotFoundError:
            found = False
        if found:
            importlib.import_module(f"{name}.tasks")
