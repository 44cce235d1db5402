"""Periodic work of pos_core (scheduled in PosCoreConfig.ready())."""

from __future__ import annotations

from celery import shared_task

from .saga import recover_stuck


@shared_task(name="pos_core.recover_sagas")
def recover_sagas() -> dict[str, int]:
    """Finish or compensate order sagas stuck mid-way (a process died between two steps)."""
    return recover_stuck()
