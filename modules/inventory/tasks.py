"""Celery tasks of the inventory module."""

from __future__ import annotations

import logging

from celery import shared_task

from . import services

logger = logging.getLogger("inventory")


@shared_task(name="inventory.expire_reservations")
def expire_reservations() -> int:
    """Periodic: release the stock of reservations past their expiry."""
    expired = services.reservations_expire_due()
    if expired:
        logger.info("expired reservations released", extra={"expired": expired})
    return expired
