"""Models of the pos_core module, in its own database.

Orders keep snapshots of what was sold (names, prices, category, options) as columns and JSON, so a later
change to the catalog never alters a past order, its receipt or a report. Cross-module references (product,
payment, reservation, table, tenant) are plain ids."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from pos.tenancy import TenantScopedModel


class OrderStatus(models.TextChoices):
    OPEN = "open", "Open (a tab on a table)"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"


# The only legal moves; everything else is refused (pos_core.errors.InvalidTransition).
ORDER_TRANSITIONS: dict[str, frozenset[str]] = {
    OrderStatus.OPEN: frozenset({OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.PARTIALLY_REFUNDED,
                                 OrderStatus.REFUNDED}),
    OrderStatus.COMPLETED: frozenset({OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED}),
    OrderStatus.PARTIALLY_REFUNDED: frozenset({OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED,
                                               OrderStatus.COMPLETED}),
    OrderStatus.REFUNDED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class Order(TenantScopedModel):
    """A paid order. Totals are computed on the server from the item snapshots (see pricing.py)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    number = models.CharField(max_length=20, help_text="Short number printed on the receipt.")
    saga_id = models.UUIDField(unique=True)
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=OrderStatus.choices)
    version = models.PositiveIntegerField(default=1)
    table_id = models.CharField(max_length=64, null=True, blank=True)
    table_code = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    terminal_id = models.CharField(max_length=64, blank=True, default="")
    currency = models.CharField(max_length=3)
    subtotal = models.BigIntegerField()
    service_charge = models.BigIntegerField(default=0)
    service_charge_rate = models.DecimalField(max_digits=5, decimal_places=2)
    tax = models.BigIntegerField(default=0)
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2)
    tax_inclusive = models.BooleanField()
    total = models.BigIntegerField(help_text="Before cash rounding.")
    rounding = models.BigIntegerField(default=0, help_text="Cash rounding, from the payment (may be negative).")
    grand_total = models.BigIntegerField(help_text="What was captured: total + rounding.")
    payment_id = models.CharField(max_length=64)
    payment_method = models.CharField(max_length=30)
    tendered = models.BigIntegerField(null=True, blank=True)
    change_due = models.BigIntegerField(null=True, blank=True)
    refunded = models.BigIntegerField(default=0)
    locales = models.JSONField(default=list)
    placed_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-placed_at"]
        indexes = [
            models.Index(fields=["tenant_id", "placed_at"], name="pc_order_tenant_placed"),
            models.Index(fields=["tenant_id", "status", "placed_at"], name="pc_order_tenant_status"),
            models.Index(fields=["tenant_id", "table_id", "placed_at"], name="pc_order_tenant_table"),
            models.Index(fields=["tenant_id", "payment_method", "placed_at"], name="pc_order_tenant_method"),
        ]

    def __str__(self) -> str:
        return f"Order {self.number}"


class OrderItem(TenantScopedModel):
    """One line of an order with the product as it was when sold."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    position = models.PositiveSmallIntegerField()
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, blank=True, default="")
    product_names = models.JSONField(default=dict)
    variant_names = models.JSONField(default=dict)
    category_id = models.CharField(max_length=64, blank=True, default="")
    category_names = models.JSONField(default=dict)
    options = models.JSONField(default=list, help_text="[{group, key, names, price_delta}] as chosen.")
    currency = models.CharField(max_length=3)
    unit_price = models.BigIntegerField(help_text="Product or variant price, without options.")
    options_total = models.BigIntegerField(default=0, help_text="Sum of option deltas, per unit.")
    quantity = models.PositiveIntegerField()
    line_total = models.BigIntegerField(help_text="(unit price + options) x quantity.")
    allocated_total = models.BigIntegerField(help_text="This line's share of the captured grand total.")
    refunded_quantity = models.PositiveIntegerField(default=0)
    product_version = models.PositiveIntegerField(default=0)
    snapshot = models.JSONField(default=dict, help_text="The whole product document at order time.")

    class Meta:
        ordering = ["order", "position"]
        indexes = [
            models.Index(fields=["tenant_id", "product_id"], name="pc_item_tenant_product"),
            models.Index(fields=["tenant_id", "category_id"], name="pc_item_tenant_category"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"


class OrderRefund(TenantScopedModel):
    """A refund of (part of) an order, with the payment method kept here so reports stay in this database."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    idempotency_key = models.CharField(max_length=255)
    payment_refund_id = models.CharField(max_length=64, blank=True, default="")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=30)
    reason = models.CharField(max_length=300, blank=True, default="")
    restocked = models.BooleanField(default=False)
    actor = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_refund_key_per_tenant")]
        indexes = [models.Index(fields=["tenant_id", "created_at"], name="pc_refund_tenant_created")]

    def __str__(self) -> str:
        return f"Refund {self.amount} {self.currency} of {self.order_id}"


class RefundLine(TenantScopedModel):
    """A refund's share per order item (product and category copied for reports)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    refund = models.ForeignKey(OrderRefund, on_delete=models.CASCADE, related_name="lines")
    item = models.ForeignKey(OrderItem, on_delete=models.PROTECT, related_name="refund_lines")
    product_id = models.CharField(max_length=64)
    category_id = models.CharField(max_length=64, blank=True, default="")
    quantity = models.PositiveIntegerField(default=0)
    amount = models.BigIntegerField()

    def __str__(self) -> str:
        return f"{self.amount} of item {self.item_id}"


class SagaStatus(models.TextChoices):
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    COMPENSATING = "compensating", "Compensating"
    COMPENSATED = "compensated", "Compensated (nothing reserved, nothing charged)"
    FAILED = "failed", "Failed (needs an operator)"


class SagaStep(models.TextChoices):
    """The last step an order-placement saga finished."""

    STARTED = "started", "Started"
    RESERVED = "reserved", "Stock reserved"
    CHARGED = "charged", "Payment captured"
    COMMITTED = "committed", "Reservation committed"
    RECORDED = "recorded", "Order recorded"
    REFUNDED = "refunded", "Payment refunded"
    RELEASED = "released", "Stock released"


class OrderSaga(TenantScopedModel):
    """The order-placement saga: persisted after every step so a crash can be resumed or compensated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=20, choices=SagaStatus.choices, default=SagaStatus.RUNNING)
    step = models.CharField(max_length=20, choices=SagaStep.choices, default=SagaStep.STARTED)
    current = models.CharField(max_length=20, blank=True, default="", help_text="The action in flight, if any.")
    order_id = models.UUIDField(help_text="Assigned up front so recording the order is idempotent.")
    reservation_id = models.CharField(max_length=64, blank=True, default="")
    reservation_committed = models.BooleanField(default=False)
    payment_id = models.CharField(max_length=64, blank=True, default="")
    payment = models.JSONField(default=dict, blank=True, help_text="What payment answered (captured, rounding...).")
    request = models.JSONField(help_text="The validated order: lines with their snapshots, totals, payment.")
    error = models.JSONField(default=dict, blank=True, help_text="The problem answered to the terminal.")
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    locked_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_saga_key_per_tenant")]
        indexes = [models.Index(fields=["status", "updated_at"], name="pc_saga_status_updated")]

    def __str__(self) -> str:
        return f"Saga {self.id} ({self.status}/{self.step})"


class SagaLogEntry(TenantScopedModel):
    """One line of a saga's log: an action started, succeeded or failed."""

    class Outcome(models.TextChoices):
        STARTED = "started"
        OK = "ok"
        FAILED = "failed"
        SKIPPED = "skipped"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    saga = models.ForeignKey(OrderSaga, on_delete=models.CASCADE, related_name="log")
    action = models.CharField(max_length=30)
    outcome = models.CharField(max_length=10, choices=Outcome.choices)
    detail = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at"]
        verbose_name_plural = "saga log entries"

    def __str__(self) -> str:
        return f"{self.action} {self.outcome}"


class StockLevel(TenantScopedModel):
    """The last stock level applied from inventory.stock_changed, kept durably beside the cache, so an older
    event never overwrites a newer one (even after the cache entry expired)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, blank=True, default="")
    level = models.IntegerField()
    threshold = models.IntegerField(default=0)
    sequence = models.BigIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["tenant_id", "product_id", "variant"],
                                               name="pc_stock_level_per_item")]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.variant or '-'}: {self.level} (#{self.sequence})"


class AlertStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"


class LowStockAlert(TenantScopedModel):
    """A product (or variant) fell below its threshold. One open alert per item until restocked."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, blank=True, default="")
    level = models.IntegerField(help_text="The level when the alert opened.")
    current_level = models.IntegerField()
    threshold = models.IntegerField()
    status = models.CharField(max_length=10, choices=AlertStatus.choices, default=AlertStatus.OPEN)
    opened_at = models.DateTimeField()
    closed_at = models.DateTimeField(null=True, blank=True)
    closed_by = models.CharField(max_length=100, blank=True, default="")
    resolution = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["-opened_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "product_id", "variant"],
                                               condition=Q(status="open"), name="pc_one_open_alert_per_item")]
        indexes = [models.Index(fields=["tenant_id", "status", "opened_at"], name="pc_alert_tenant_status")]

    def __str__(self) -> str:
        return f"Low stock {self.product_id}/{self.variant or '-'} ({self.status})"
