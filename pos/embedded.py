"""The embedded mode's stand-in for `celery beat`: one daemon thread that runs every periodic task of
`CELERY_BEAT_SCHEDULE` in-process at its interval, so reservation expiry, outbox sweeps and saga recovery
happen without Redis or a worker. Service mode runs `celery beat` instead."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from celery import current_app
from django.db import close_old_connections

from pos.modules import import_task_modules

logger = logging.getLogger("pos.embedded")


class EmbeddedBeat(threading.Thread):
    def __init__(self, schedule: dict, *, tick_seconds: int = 1,
                 clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        super().__init__(name="embedded-beat", daemon=True)
        import_task_modules()
        # (name, task, seconds between runs or None, celery schedule such as a crontab or None)
        self.entries: list[tuple[str, str, int | None, object]] = []
        for name, entry in schedule.items():
            every = entry["schedule"]
            if isinstance(every, (timedelta, int, float)):
                seconds = every.total_seconds() if isinstance(every, timedelta) else every
                self.entries.append((name, entry["task"], max(int(seconds), 1), None))
            else:  # a celery schedule (crontab): due when its estimate from the last run reaches zero
                self.entries.append((name, entry["task"], None, every))
        self.clock = clock
        self.tick_seconds = tick_seconds
        self.stopped = threading.Event()
        self.runs: dict[str, int] = {name: 0 for name, _, _, _ in self.entries}

    def _seconds_to_next(self, schedule) -> int:
        now = self.clock()
        start, delta, _ = schedule.remaining_delta(now)  # the next time the schedule fires after `now`
        return max(int(((start + delta) - now).total_seconds()), 1)

    def run_due(self, now: float, next_run: dict[str, float]) -> None:
        for name, task_name, every, schedule in self.entries:
            if schedule is not None and name not in next_run:
                next_run[name] = now + self._seconds_to_next(schedule)  # a crontab waits for its first time
            if now < next_run.get(name, 0):
                continue
            next_run[name] = now + (every if every is not None else self._seconds_to_next(schedule))
            try:
                current_app.tasks[task_name].apply(throw=True)
                self.runs[name] += 1
            except Exception:
                logger.exception("periodic task failed", extra={"task": task_name})

    def run(self) -> None:
        logger.info("embedded beat started", extra={"tasks": ",".join(t for _, t, _, _ in self.entries)})
        next_run: dict[str, float] = {}
        while not self.stopped.wait(self.tick_seconds):
            self.run_due(time.monotonic(), next_run)
            close_old_connections()  # this thread's own connections, like a request's

    def stop(self) -> None:
        self.stopped.set()
