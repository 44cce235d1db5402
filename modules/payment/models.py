"""Models of the payment module, in its own database ("payment").

Payment and Refund are the restaurant's records. SimulatedProviderEntry is the simulated card/wallet
provider's own ledger: it stands for the provider's side of the wire and is written only by the simulator
gateway, keyed by the provider idempotency key, so tests can count what the provider really captured.
"""

from __future__ import annotations

import uuid

from django.db import models

from pos.money import Money
from pos.tenancy import TenantScopedModel


class Method(models.TextChoices):
    CASH = "cash", "Cash"
    CARD = "card", "Card"
    KBZPAY = "kbzpay", "KBZPay"
    WAVEPAY = "wavepay", "WavePay"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    CAPTURED = "captured", "Captured"
    DECLINED = "declined", "Declined"
    FAILED = "failed", "Failed"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


REFUNDABLE_STATUSES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED)


class Payment(TenantScopedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    method = models.CharField(max_length=20, choices=Method.choices)
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="Requested amount, minor units.")
    rounding_adjustment = models.BigIntegerField(default=0, help_text="Cash rounding, explicit; may be negative.")
    captured_amount = models.BigIntegerField(default=0, help_text="What was taken: amount + rounding adjustment.")
    refunded_amount = models.BigIntegerField(default=0, help_text="Sum of succeeded refunds.")
    refund_pending_amount = models.BigIntegerField(default=0, help_text="Refunds sent to the provider, not settled.")
    tendered = models.BigIntegerField(null=True, blank=True, help_text="Cash handed over, minor units.")
    change_due = models.BigIntegerField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, help_text="The caller's key; unique per tenant.")
    fingerprint = models.CharField(max_length=64, help_text="Hash of amount, currency and method of the first call.")
    provider = models.CharField(max_length=20)
    provider_key = models.CharField(max_length=80, unique=True, help_text="Idempotency key sent to the provider.")
    provider_reference = models.CharField(max_length=100, blank=True, default="")
    reference = models.CharField(max_length=100, blank=True, default="", help_text="Caller's reference (order).")
    decline_reason = models.CharField(max_length=200, blank=True, default="")
    last_error = models.CharField(max_length=300, blank=True, default="")
    lookup_attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="payment_key_per_tenant"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0, refund_pending_amount__gte=0)
                & models.Q(captured_amount__gte=models.F("refunded_amount") + models.F("refund_pending_amount")),
                name="payment_refunds_within_capture",
            ),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "-created_at"], name="payment_tenant_created"),
            models.Index(fields=["tenant_id", "status", "-created_at"], name="payment_tenant_status"),
            models.Index(fields=["tenant_id", "method", "-created_at"], name="payment_tenant_method"),
            models.Index(fields=["tenant_id", "reference"], name="payment_tenant_reference"),
            models.Index(fields=["status", "updated_at"], name="payment_status_updated"),
        ]

    def __str__(self) -> str:
        return f"{self.method} {Money(self.amount, self.currency)} ({self.status})"

    def money(self, minor: int) -> Money:
        return Money(minor, self.currency)


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Refund(TenantScopedModel):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=300)
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.PENDING)
    idempotency_key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    provider_key = models.CharField(max_length=80, unique=True)
    provider_reference = models.CharField(max_length=100, blank=True, default="")
    failure_reason = models.CharField(max_length=300, blank=True, default="")
    actor = models.CharField(max_length=150, blank=True, default="", help_text="Who asked: terminal or manager.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="refund_key_per_tenant"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="refund_amount_positive"),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "-created_at"], name="refund_tenant_created"),
            models.Index(fields=["status", "updated_at"], name="refund_status_updated"),
        ]

    def __str__(self) -> str:
        return f"Refund {Money(self.amount, self.currency)} ({self.status})"


class Behaviour(models.TextChoices):
    APPROVE = "approve", "Approve"
    DECLINE = "decline", "Decline"
    ERROR = "error", "Provider error (nothing charged)"
    TIMEOUT = "timeout", "Timeout (charged, answer too late)"
    SLOW = "slow", "Slow, then approve"
    LOST = "lost", "Charged, response lost"
    DROP = "drop", "Request lost before the provider (nothing charged, ambiguous)"


class LookupBehaviour(models.TextChoices):
    ANSWER = "answer", "Answer"
    UNAVAILABLE = "unavailable", "Unavailable"


class ProviderBehaviour(TenantScopedModel):
    """How the simulated provider behaves for one tenant and method (blank method: every non-cash method).
    For demos and tests; a manager edits it in the admin."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    method = models.CharField(max_length=20, blank=True, default="",
                              choices=[("", "Every method"), *[c for c in Method.choices if c[0] != "cash"]])
    charge_behaviour = models.CharField(max_length=20, choices=Behaviour.choices, default=Behaviour.APPROVE)
    refund_behaviour = models.CharField(max_length=20, choices=Behaviour.choices, default=Behaviour.APPROVE)
    lookup_behaviour = models.CharField(max_length=20, choices=LookupBehaviour.choices, default=LookupBehaviour.ANSWER)
    delay_ms = models.PositiveIntegerField(default=300, help_text="How long 'slow' takes.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["method"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "method"], name="provider_behaviour_per_method")]

    def __str__(self) -> str:
        return f"{self.method or 'every method'}: {self.charge_behaviour}"


class SimulatedProviderEntry(models.Model):
    """The simulated provider's own ledger (its side of the wire), keyed by the provider idempotency key.
    Not a restaurant record: the provider knows merchants, so the tenant is stored as `merchant_id`."""

    class Kind(models.TextChoices):
        CHARGE = "charge"
        REFUND = "refund"

    class Status(models.TextChoices):
        CAPTURED = "captured"
        DECLINED = "declined"
        REFUNDED = "refunded"

    key = models.CharField(primary_key=True, max_length=80)
    merchant_id = models.UUIDField(db_index=True)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices)
    method = models.CharField(max_length=20)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=100, unique=True)
    charge_reference = models.CharField(max_length=100, blank=True, default="", db_index=True)
    calls = models.PositiveIntegerField(default=1, help_text="How many requests carried this key.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        verbose_name = "simulated provider ledger entry"
        verbose_name_plural = "simulated provider ledger"

    def __str__(self) -> str:
        return f"{self.kind} {self.key} {self.status}"
