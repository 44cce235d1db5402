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
    terminal_id = models.CharField(max_length=64, blank=True, default="", help_text="The terminal that took it.")
    drawer = models.ForeignKey("CashDrawer", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               help_text="The terminal's cash drawer when the payment was taken.")
    shift = models.ForeignKey("Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="payments",
                              help_text="The drawer's shift this payment counts in.")
    late_for_shift = models.ForeignKey("Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                       help_text="Started in this shift, which closed before the payment was "
                                                 "captured: it counts in `shift` instead.")
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

    @property
    def refundable_amount(self) -> int:
        """Minor units that may still be refunded: captured, less refunds settled and refunds in flight."""
        return self.captured_amount - self.refunded_amount - self.refund_pending_amount


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
    terminal_id = models.CharField(max_length=64, blank=True, default="", help_text="The terminal that refunded.")
    drawer = models.ForeignKey("CashDrawer", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                               help_text="The drawer the money left (the terminal's, else the payment's).")
    shift = models.ForeignKey("Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="refunds",
                              help_text="The drawer's shift this refund counts in.")
    late_for_shift = models.ForeignKey("Shift", null=True, blank=True, on_delete=models.PROTECT, related_name="+",
                                       help_text="The closed shift of the refunded payment (or the shift the refund "
                                                 "started in, closed before it succeeded).")
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


# --- cash drawers and shifts -------------------------------------------------------------------------------


class CashDrawer(TenantScopedModel):
    """A physical cash drawer. Terminals are assigned to it; a terminal without one gets a drawer of its own
    when it first opens a shift."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "name"], name="drawer_name_per_tenant")]

    def __str__(self) -> str:
        return self.name


class DrawerTerminal(TenantScopedModel):
    """A terminal's cash goes into this drawer. A terminal belongs to one drawer at most; `terminal_name` is a
    snapshot of the terminal's name (terminals live in accounts) taken when it was assigned."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    drawer = models.ForeignKey(CashDrawer, on_delete=models.CASCADE, related_name="terminals")
    terminal_id = models.UUIDField()
    terminal_name = models.CharField(max_length=100)
    assigned_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["terminal_name"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "terminal_id"], name="one_drawer_per_terminal")]

    def __str__(self) -> str:
        return f"{self.terminal_name} → {self.drawer_id}"


class ShiftStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class Shift(TenantScopedModel):
    """One cashier's shift on one drawer: opened with a float, closed with a count. A closed shift never
    changes; its Z report is kept as it was at closing."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    drawer = models.ForeignKey(CashDrawer, on_delete=models.PROTECT, related_name="shifts")
    status = models.CharField(max_length=10, choices=ShiftStatus.choices, default=ShiftStatus.OPEN)
    currency = models.CharField(max_length=3)
    opening_float = models.BigIntegerField(help_text="Cash in the drawer at opening, minor units.")
    opened_at = models.DateTimeField(auto_now_add=True)
    opened_by = models.CharField(max_length=150, help_text="Who opened it: terminal or manager.")
    opened_by_terminal_id = models.CharField(max_length=64, blank=True, default="")
    open_key = models.CharField(max_length=255, help_text="The opening request's idempotency key.")
    open_fingerprint = models.CharField(max_length=64)
    note = models.CharField(max_length=300, blank=True, default="")
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=150, blank=True, default="")
    closed_by_terminal_id = models.CharField(max_length=64, blank=True, default="")
    close_key = models.CharField(max_length=255, blank=True, default="")
    close_fingerprint = models.CharField(max_length=64, blank=True, default="")
    close_note = models.CharField(max_length=300, blank=True, default="")
    counted = models.JSONField(default=dict, blank=True, help_text="Counted amount per method at closing.")
    expected_cash = models.BigIntegerField(null=True, blank=True)
    counted_cash = models.BigIntegerField(null=True, blank=True)
    cash_difference = models.BigIntegerField(null=True, blank=True, help_text="Counted − expected: over > 0 > short.")
    z_report = models.JSONField(default=dict, blank=True, help_text="The Z report, as it was at closing.")
    version = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [
            # One open shift per drawer, kept by the database itself (also under concurrent openings).
            models.UniqueConstraint(fields=["drawer"], condition=models.Q(status="open"),
                                    name="one_open_shift_per_drawer"),
            models.UniqueConstraint(fields=["tenant_id", "open_key"], name="shift_open_key_per_tenant"),
            models.CheckConstraint(condition=models.Q(opening_float__gte=0), name="shift_float_not_negative"),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "-opened_at"], name="shift_tenant_opened"),
            models.Index(fields=["tenant_id", "status", "-opened_at"], name="shift_tenant_status"),
            models.Index(fields=["tenant_id", "drawer", "-opened_at"], name="shift_tenant_drawer"),
            models.Index(fields=["tenant_id", "cash_difference"], name="shift_tenant_difference"),
        ]

    def __str__(self) -> str:
        return f"{self.drawer} {self.opened_at:%Y-%m-%d %H:%M} ({self.status})"


class MovementKind(models.TextChoices):
    IN = "in", "Cash in"
    OUT = "out", "Cash out"


class CashMovement(TenantScopedModel):
    """Cash put into or taken out of the drawer during a shift, other than sales and refunds: float top-ups,
    pay-outs to suppliers, safe drops, and corrections of a closed shift's count."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    shift = models.ForeignKey(Shift, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField(max_length=3, choices=MovementKind.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=300)
    actor = models.CharField(max_length=150)
    terminal_id = models.CharField(max_length=64, blank=True, default="")
    idempotency_key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="movement_key_per_tenant"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="movement_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {Money(self.amount, self.currency)}: {self.reason}"


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
