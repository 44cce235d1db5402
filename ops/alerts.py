"""Reconcile findings become alerts that managers (their restaurant's, in the admin) and operators (every
restaurant, in the admin and the logs) see."""

from __future__ import annotations

import uuid

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from pos.tenancy import all_tenants, tenant_context

from .models import ReconcileAlert
from .reconcile import ReconcileReport


def open_alerts(report: ReconcileReport) -> dict[str, int]:
    """Open one alert per finding (or refresh the open one for the same finding). Returns counts."""
    counts = {"opened": 0, "refreshed": 0}
    now = timezone.now()
    for mismatch in report.mismatches:
        tenant_id = uuid.UUID(mismatch.tenant_id)
        with tenant_context(tenant_id):
            refreshed = ReconcileAlert.objects.filter(fingerprint=mismatch.fingerprint,
                                                      status=ReconcileAlert.Status.OPEN).update(
                detail=mismatch.detail, last_seen_at=now, times_seen=F("times_seen") + 1)
            if refreshed:
                counts["refreshed"] += 1
                continue
            try:
                with transaction.atomic(using="default"):
                    ReconcileAlert.objects.create(
                        tenant_id=tenant_id, kind=mismatch.kind, subject=mismatch.subject[:200],
                        fingerprint=mismatch.fingerprint[:260], detail=mismatch.detail, ids=dict(mismatch.ids),
                        opened_at=now, last_seen_at=now)
                counts["opened"] += 1
            except IntegrityError:
                counts["refreshed"] += 1  # another run opened it at the same moment
    return counts


def close_alerts(*, alert_ids: list, actor: str) -> int:
    """Close open alerts (the cause was dealt with). Scoped by the tenant in scope (a manager) or all."""
    return ReconcileAlert.objects.filter(pk__in=alert_ids, status=ReconcileAlert.Status.OPEN).update(
        status=ReconcileAlert.Status.CLOSED, closed_at=timezone.now(), closed_by=actor[:150])


def open_alert_count() -> int:
    with all_tenants():
        return ReconcileAlert.objects.filter(status=ReconcileAlert.Status.OPEN).count()
