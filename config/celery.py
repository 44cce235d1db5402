"""The Celery app. Task names must start with their module's namespace (`inventory.`, `pos_core.`, ...);
a system check refuses any other name (pos.checks)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(lambda: ["pos", "pos.events", "modules.accounts", "modules.inventory", "modules.payment",
                                "modules.restaurant", "modules.pos_core", "ops"])
