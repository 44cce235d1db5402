"""Periodic work of pos_core (scheduled in PosCoreConfig.ready())."""

from __future__ import annotations

from celery import shared_task

from .refunds import recover_refunds as _recover_refunds
from .saga import recover_stuck
from .table_service.flows import recover as recover_table_service


@shared_task(name="pos_core.recover_sagas")
def recover_sagas() -> dict[str, int]:
    """Finish or compensate order sagas stuck mid-way (a process died between two steps)."""
    return recover_stuck()


@shared_task(name="pos_core.recover_table_service")
def recover_table_checks() -> dict[str, int]:
    """Finish rounds, voids and payments of table checks left half done, complete checks paid in full, and flag
    checks open longer than their restaurant's limit."""
    return recover_table_service()


@shared_task(name="pos_core.recover_refunds")
def recover_refunds() -> dict[str, int]:
    """Finish order refunds left pending by a crash or an unknown answer from payment."""
    return _recover_refunds()
