"""Kernel tables. The outbox lives in every module database (a module writes its events beside its
change, in the same transaction); idempotency records live in `default`."""

from __future__ import annotations

import uuid

from django.db import models


class IdempotencyRecord(models.Model):
    """One Idempotency-Key of one tenant: the request it stood for and, once done, the response."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress"
        COMPLETED = "completed"

    tenant_id = models.UUIDField()
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=500)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=20, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    locked_until = models.DateTimeField()
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="idempotency_key_per_tenant")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class OutboxEvent(models.Model):
    """An event recorded in the publishing module's database in the same transaction as its cause."""

    in_every_module_database = True

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    version = models.PositiveSmallIntegerField()
    tenant_id = models.UUIDField()
    occurred_at = models.DateTimeField()
    payload = models.JSONField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outbox_due"),
            models.Index(fields=["name", "occurred_at"], name="outbox_name_time"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.status})"
