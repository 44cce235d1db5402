"""Tables of the operator tools, in the `default` database (ops belongs to no module)."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from pos.tenancy import TenantScopedModel


class ReconcileAlert(TenantScopedModel):
    """A disagreement between modules found by `reconcile`: open until a manager or operator closes it once
    the cause is fixed. The same finding seen again refreshes its open alert instead of opening another."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=50)
    subject = models.CharField(max_length=200, help_text="The order, payment, reservation or item it is about.")
    fingerprint = models.CharField(max_length=260)
    detail = models.TextField()
    ids = models.JSONField(default=dict, blank=True, help_text="Related ids (payment, saga, order...).")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    times_seen = models.PositiveIntegerField(default=1)
    opened_at = models.DateTimeField()
    last_seen_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        ordering = ["-last_seen_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "fingerprint"], condition=Q(status="open"),
                                               name="ops_one_open_reconcile_alert")]
        indexes = [models.Index(fields=["tenant_id", "status", "last_seen_at"], name="ops_reconcile_alert_status")]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject} ({self.status})"
