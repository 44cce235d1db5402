"""Kernel tables. The outbox, its per-subscriber delivery registry and the inbox live in every module
database (a module writes its events beside its change, in the same transaction, and records what it
handled beside its effect); idempotency records live in `default`."""

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
    # Who runs the request now ("host pid process-start"), and the token its answer is written under: a retry
    # takes a key over as soon as its holder is known to be gone, and the old holder can no longer write.
    holder = models.CharField(max_length=300, blank=True, default="")
    lock_token = models.UUIDField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="idempotency_key_per_tenant")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"


class OutboxEvent(models.Model):
    """An event recorded in the publishing module's database in the same transaction as its cause.

    `status` summarises its deliveries (one `EventDelivery` per subscriber): pending while any is pending,
    dead when none is pending and one is dead, delivered when all are delivered (or nobody listens)."""

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
            models.Index(fields=["occurred_at"], name="outbox_time"),
            models.Index(fields=["status", "delivered_at"], name="outbox_purge"),
        ]
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.name} {self.id} ({self.status})"


class EventDelivery(models.Model):
    """The publication registry: one row per (event, subscriber), in the publisher's database, written with
    the event. It records the delivery's attempts, status and last error; a relay claims it with a lease
    (`claimed_until`) so two relays never deliver it at the same time. Dead rows can be replayed."""

    in_every_module_database = True

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        DEAD = "dead"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    event_name = models.CharField(max_length=100)  # copied from the event: filters without a join
    tenant_id = models.UUIDField()
    handler_name = models.CharField(max_length=200)
    consumer_alias = models.CharField(max_length=50)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_until = models.DateTimeField(null=True, blank=True)
    claim_token = models.UUIDField(null=True, blank=True)
    enqueued_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    delivered_at = models.DateTimeField(null=True, blank=True)  # the latest delivery
    # History a replay keeps: `attempts` counts every attempt ever made; the retry budget and backoff count
    # from `attempts_at_replay` (the attempts made before the latest replay, at `replayed_at`).
    first_delivered_at = models.DateTimeField(null=True, blank=True)
    replayed_at = models.DateTimeField(null=True, blank=True)
    attempts_at_replay = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["event", "handler_name"], name="delivery_per_handler")]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="delivery_due"),
            models.Index(fields=["event_name", "status"], name="delivery_name_status"),
            models.Index(fields=["handler_name", "status"], name="delivery_handler_status"),
            # A relay reads back the rows it just claimed by their token: without it, a scan of every delivery
            # kept (a week's worth) on each delivery.
            models.Index(fields=["claim_token"], name="delivery_claim_token"),
        ]
        ordering = ["created_at"]
        verbose_name_plural = "event deliveries"

    def __str__(self) -> str:
        return f"{self.event_name} -> {self.handler_name} ({self.status})"


class InboxRecord(models.Model):
    """An event a handler has applied, in the consumer's database, written in the same transaction as the
    handler's effect: a second delivery of the same event to the same handler finds it and does nothing."""

    in_every_module_database = True

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    handler_name = models.CharField(max_length=200)
    event_id = models.UUIDField()
    event_name = models.CharField(max_length=100)
    tenant_id = models.UUIDField()
    handled_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["handler_name", "event_id"], name="inbox_once_per_handler")]
        indexes = [models.Index(fields=["handled_at"], name="inbox_handled_at")]

    def __str__(self) -> str:
        return f"{self.handler_name} {self.event_id}"
