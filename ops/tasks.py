"""The nightly reconcile (scheduled in OpsConfig.ready(): Celery beat, or the embedded scheduler)."""

from __future__ import annotations

import logging
from datetime import timedelta

from celery import shared_task
from django.utils import timezone

from .alerts import open_alerts
from .reconcile import reconcile

logger = logging.getLogger("ops.reconcile")


@shared_task(name="ops.reconcile")
def reconcile_nightly() -> dict[str, int]:
    """Check yesterday's orders, captures and sales, and today's stock and reservations, across every module;
    open an alert per finding."""
    day = timezone.localdate() - timedelta(days=1)
    report = reconcile(day=day)
    counts = open_alerts(report)
    summary = {"mismatches": len(report.mismatches), **counts}
    if report.clean:
        logger.info(report.summary(), extra=summary)
    else:
        logger.error(report.summary(), extra=summary)
    return summary
