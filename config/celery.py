"""The Celery app. Task names must start with their module's namespace (`inventory.`, `pos_core.`, ...);
a system check refuses any other name (pos.checks)."""

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("pos")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(lambda: ["pos", "pos.events", "modules.accounts", "modules.inventory", "modules.payment",
                                "modules.restaurant", "modules.pos_core", "ops"])


@signals.worker_init.connect
def _warm_up_worker_processes(**_kwargs) -> None:
    """Connected here, after the Django fixup's own handlers (which close the connections a child process
    inherits), so each new worker process connects to its databases and the cache before its first task: the
    first events after a worker starts are delivered as fast as the rest."""

    @signals.worker_process_init.connect(weak=False)
    def _warm_up(**_kwargs) -> None:
        from pos.events import relay

        relay.warm_up()
