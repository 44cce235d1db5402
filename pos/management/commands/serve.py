"""`runserver`, plus in embedded mode the periodic tasks that `celery beat` runs in service mode."""

from __future__ import annotations

from django.conf import settings
from django.contrib.staticfiles.management.commands.runserver import Command as RunserverCommand

from pos.embedded import EmbeddedBeat


class Command(RunserverCommand):
    help = "Serve the admin and API for development; in embedded mode also run the periodic tasks in-process."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--no-beat", action="store_true", help="Do not run the periodic tasks in-process.")

    def inner_run(self, *args, **options) -> None:
        if settings.CELERY_TASK_ALWAYS_EAGER and not options.get("no_beat"):
            beat = EmbeddedBeat(settings.CELERY_BEAT_SCHEDULE)
            beat.start()
            self.stdout.write(f"Embedded mode: running {len(beat.entries)} periodic tasks in-process "
                              f"({', '.join(name for name, *_ in beat.entries)}).")
        super().inner_run(*args, **options)
