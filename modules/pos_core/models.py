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


class OrderService(models.TextChoices):
    COUNTER = "counter", "Counter (paid when placed)"
    TABLE = "table", "Table service (open check, rounds, paid at the end)"


class Order(TenantScopedModel):
    """An order. Counter orders are paid when placed (the saga); table-service orders are opened on a table,
    take rounds, voids, comps and discounts, may be split into parts, and are paid by one or more payments.
    Totals are computed on the server from the item snapshots (see pricing.py)."""

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
    # Table service (zero / empty on counter orders).
    service = models.CharField(max_length=10, choices=OrderService.choices, default=OrderService.COUNTER)
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="parts",
                               help_text="The check this part was split from.")
    split_kind = models.CharField(max_length=10, blank=True, default="",
                                  help_text="On a split check: items, seats or equal.")
    discount = models.BigIntegerField(default=0, help_text="Comps and discounts, taken off the subtotal.")
    paid = models.BigIntegerField(default=0, help_text="Captured toward the bill (with cash rounding, no tips).")
    pending = models.BigIntegerField(default=0, help_text="Held by payments whose outcome is not recorded yet.")
    tips = models.BigIntegerField(default=0, help_text="Tips captured with the payments; not sales.")
    flagged_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Open longer than the restaurant's limit: shown to the manager.")

    class Meta:
        ordering = ["-placed_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"],
                                               condition=Q(service="table"), name="pc_table_order_key")]
        indexes = [
            models.Index(fields=["tenant_id", "placed_at"], name="pc_order_tenant_placed"),
            models.Index(fields=["tenant_id", "status", "placed_at"], name="pc_order_tenant_status"),
            models.Index(fields=["tenant_id", "table_id", "placed_at"], name="pc_order_tenant_table"),
            models.Index(fields=["tenant_id", "payment_method", "placed_at"], name="pc_order_tenant_method"),
            models.Index(fields=["status", "service", "placed_at"], name="pc_order_open_table"),
        ]

    def __str__(self) -> str:
        return f"Order {self.number}"

    @property
    def refundable(self) -> int:
        """What can still be refunded, before refunds in flight: paid less refunded (minor units). A table check
        still open has nothing to refund yet (what it holds is still due; its tenders are refunded on payment)."""
        if self.service == OrderService.TABLE and self.status == OrderStatus.OPEN:
            return 0
        return self.grand_total - self.refunded


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
    # Table service: the round that sent it, the guest's seat, the line note, voids and comps.
    round = models.ForeignKey("OrderRound", null=True, blank=True, on_delete=models.PROTECT, related_name="items")
    seat = models.PositiveSmallIntegerField(null=True, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    voided_quantity = models.PositiveIntegerField(default=0, help_text="Voided before payment (not in quantity).")
    comped_quantity = models.PositiveIntegerField(default=0, help_text="Of quantity, given for free.")
    comped = models.BigIntegerField(default=0, help_text="The comped amount (unit price with options x comped).")
    source_item = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="split_copies", help_text="On a split part: the item it bills.")

    class Meta:
        ordering = ["order", "position"]
        indexes = [
            models.Index(fields=["tenant_id", "product_id"], name="pc_item_tenant_product"),
            models.Index(fields=["tenant_id", "category_id"], name="pc_item_tenant_category"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x {self.product_id}"

    @property
    def refundable_quantity(self) -> int:
        """Units of this line that can still be refunded: sold less refunded (pending refunds hold theirs)."""
        return self.quantity - self.refunded_quantity


class RefundStatus(models.TextChoices):
    PENDING = "pending", "Pending (sent to payment, answer not known yet)"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed (nothing refunded)"


class OrderRefund(TenantScopedModel):
    """A refund of (part of) an order, with the payment method kept here so reports stay in this database.

    Recorded `pending` before payment is asked (its units are then held on the lines), settled `succeeded` or
    `failed` from payment's answer or its `payment.refunded` event, whichever comes first. A refund made on the
    payment side (its endpoint, the admin) arrives only as the event and is recorded succeeded, once per
    `payment_refund_id`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refunds")
    idempotency_key = models.CharField(max_length=255)
    payment_refund_id = models.CharField(max_length=64, blank=True, default="")
    status = models.CharField(max_length=20, choices=RefundStatus.choices, default=RefundStatus.SUCCEEDED)
    source = models.CharField(max_length=20, default="order",
                              help_text="Where it was asked: order (terminal or admin on the order), payment.")
    restock_done = models.BooleanField(default=False, help_text="The units asked back went back to stock.")
    failure = models.CharField(max_length=300, blank=True, default="", help_text="Why payment refused it.")
    terminal_id = models.CharField(max_length=64, blank=True, default="", help_text="The terminal that asked.")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    payment_method = models.CharField(max_length=30)
    reason = models.CharField(max_length=300, blank=True, default="")
    restocked = models.BooleanField(default=False)
    actor = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_refund_key_per_tenant"),
            models.UniqueConstraint(fields=["tenant_id", "payment_refund_id"], condition=~Q(payment_refund_id=""),
                                    name="pc_refund_once_per_payment_refund"),
        ]
        indexes = [
            models.Index(fields=["tenant_id", "created_at"], name="pc_refund_tenant_created"),
            models.Index(fields=["status", "created_at"], name="pc_refund_status_created"),
        ]

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
        indexes = [models.Index(fields=["status", "updated_at"], name="pc_saga_status_updated"),
                   models.Index(fields=["tenant_id", "order_id"], name="pc_saga_tenant_order")]

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


# --- table service ---------------------------------------------------------------------------------

class RoundStatus(models.TextChoices):
    PENDING = "pending", "Reserving stock"
    SENT = "sent", "Sent to the kitchen"
    REFUSED = "refused", "Refused (nothing reserved)"
    RELEASED = "released", "Released (the check was cancelled)"


class OrderRound(TenantScopedModel):
    """A round of items sent to the kitchen for an open check. Durable before stock is reserved (key
    `round-<id>`), so a retried or interrupted round is finished once and never duplicated."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="rounds")
    number = models.PositiveSmallIntegerField()
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=RoundStatus.choices, default=RoundStatus.PENDING)
    lines = models.JSONField(help_text="The priced lines with their snapshots, as validated.")
    reservation_id = models.CharField(max_length=64, blank=True, default="")
    reservation_committed = models.BooleanField(default=False)
    error = models.JSONField(default=dict, blank=True, help_text="The problem answered when refused.")
    terminal_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["order", "number"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_round_key"),
                       models.UniqueConstraint(fields=["order", "number"], name="pc_round_number")]
        indexes = [models.Index(fields=["status", "updated_at"], name="pc_round_status")]

    def __str__(self) -> str:
        return f"Round {self.number} of {self.order_id} ({self.status})"


class AdjustmentKind(models.TextChoices):
    VOID = "void", "Void"
    COMP = "comp", "Comp (on the house)"
    DISCOUNT = "discount", "Discount"


class OrderAdjustment(TenantScopedModel):
    """A void, comp or discount on an open check, with its reason and who made it (the audit trail of the
    check). A void is pending until inventory released (or wrote off) its stock."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="adjustments")
    item = models.ForeignKey(OrderItem, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustments")
    kind = models.CharField(max_length=10, choices=AdjustmentKind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DONE)
    idempotency_key = models.CharField(max_length=255)
    quantity = models.PositiveIntegerField(default=0)
    amount = models.BigIntegerField(default=0, help_text="Taken off the bill (comps, discounts).")
    percent = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    made = models.BooleanField(null=True, blank=True, help_text="Void: the food was made (written off).")
    reason = models.CharField(max_length=300)
    actor = models.CharField(max_length=100, blank=True, default="")
    actor_role = models.CharField(max_length=20, blank=True, default="")
    error = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_adjustment_key")]
        indexes = [models.Index(fields=["tenant_id", "kind", "created_at"], name="pc_adjustment_kind"),
                   models.Index(fields=["status", "created_at"], name="pc_adjustment_status")]

    def __str__(self) -> str:
        return f"{self.kind} on {self.order_id}"


class OrderPaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending (amount held on the check)"
    CAPTURED = "captured", "Captured"
    DECLINED = "declined", "Declined (nothing taken)"
    REFUNDED = "refunded", "Refunded (compensated)"


class OrderPayment(TenantScopedModel):
    """One tender toward a check. Written (pending, holding `amount` on the check) before payment is called
    with key `order-<order>-pay-<id>`, settled after; so no capture is ever unknown to the check."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    idempotency_key = models.CharField(max_length=255)
    status = models.CharField(max_length=10, choices=OrderPaymentStatus.choices, default=OrderPaymentStatus.PENDING)
    method = models.CharField(max_length=30)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField(help_text="Toward the bill, before cash rounding.")
    tip = models.BigIntegerField(default=0)
    tendered = models.BigIntegerField(null=True, blank=True)
    payment_id = models.CharField(max_length=64, blank=True, default="")
    captured = models.BigIntegerField(default=0, help_text="Taken: amount + rounding + tip.")
    rounding = models.BigIntegerField(default=0)
    change_due = models.BigIntegerField(null=True, blank=True)
    refunded = models.BigIntegerField(default=0, help_text="Refunded of what it paid toward the bill.")
    tip_refunded = models.BigIntegerField(default=0, help_text="Of its tip, given back (payment-side refunds).")
    error = models.JSONField(default=dict, blank=True)
    terminal_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    settled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "idempotency_key"], name="pc_order_payment_key")]
        indexes = [models.Index(fields=["tenant_id", "status", "settled_at"], name="pc_order_payment_settled"),
                   models.Index(fields=["status", "created_at"], name="pc_order_payment_pending")]

    @property
    def charge_key(self) -> str:
        return f"order-{self.order_id}-pay-{self.id}"

    def __str__(self) -> str:
        return f"{self.method} {self.amount} on {self.order_id} ({self.status})"


class RefundTender(TenantScopedModel):
    """The share of a table check's refund taken from one of its tenders: the reports count refunds under the
    tender's method, and the check knows what each tender has given back."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    refund = models.ForeignKey(OrderRefund, on_delete=models.CASCADE, related_name="tenders")
    tender = models.ForeignKey(OrderPayment, on_delete=models.PROTECT, related_name="refunds")
    method = models.CharField(max_length=30)
    amount = models.BigIntegerField(help_text="Toward the bill.")
    tip = models.BigIntegerField(default=0, help_text="Of the tip (only a refund made on the payment side).")
    payment_refund_id = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["refund", "tender"], name="pc_refund_tender")]
        indexes = [models.Index(fields=["tenant_id", "payment_refund_id"], name="pc_refund_tender_payment")]

    def __str__(self) -> str:
        return f"{self.method} {self.amount} of refund {self.refund_id}"


class TableServiceSettings(TenantScopedModel):
    """A restaurant's rules for table service, set by the manager in the admin."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    open_order_limit_minutes = models.PositiveIntegerField(
        default=240, help_text="An open check older than this is flagged to the manager (never dropped).")
    comps_need_manager = models.BooleanField(default=True)
    discounts_need_manager = models.BooleanField(default=True)
    voids_need_manager = models.BooleanField(default=False)

    class Meta:
        verbose_name_plural = "table service settings"
        constraints = [models.UniqueConstraint(fields=["tenant_id"], name="pc_table_settings_per_tenant")]

    def __str__(self) -> str:
        return "Table service settings"


class KitchenStation(TenantScopedModel):
    """A preparation station (grill, bar, noodles). The manager assigns catalog categories to it; items of a
    category no station claims go to the default station."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    key = models.SlugField(max_length=40)
    names = models.JSONField(default=dict, help_text='Per locale, e.g. {"en": "Bar", "my": "ဘား"}.')
    category_ids = models.JSONField(default=list, blank=True, help_text="Catalog category ids prepared here.")
    is_default = models.BooleanField(default=False, help_text="Takes the categories no other station claims.")
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["position", "key"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="pc_station_key")]

    def __str__(self) -> str:
        return self.key


class TicketStatus(models.TextChoices):
    NEW = "new", "New"
    BUMPED = "bumped", "Bumped (done)"


class KitchenTicket(TenantScopedModel):
    """What one station prepares for one round (or must stop preparing, for a void). Written in the same
    transaction as the round or the void, and unique per (round, station) / (void, station)."""

    class Kind(models.TextChoices):
        ROUND = "round", "Round"
        VOID = "void", "Void"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="tickets")
    round = models.ForeignKey(OrderRound, null=True, blank=True, on_delete=models.CASCADE, related_name="tickets")
    adjustment = models.ForeignKey(OrderAdjustment, null=True, blank=True, on_delete=models.CASCADE,
                                   related_name="tickets")
    station = models.CharField(max_length=40)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.ROUND)
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.NEW)
    order_number = models.CharField(max_length=20)
    table_id = models.CharField(max_length=64, blank=True, default="")
    table_code = models.CharField(max_length=64, blank=True, default="")
    round_number = models.PositiveSmallIntegerField(default=0)
    lines = models.JSONField(help_text="[{item_id, quantity, product_names, variant_names, options, note, seat}]")
    created_at = models.DateTimeField(auto_now_add=True)
    bumped_at = models.DateTimeField(null=True, blank=True)
    bumped_by = models.CharField(max_length=100, blank=True, default="")

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["round", "station"], name="pc_ticket_round_station"),
                       models.UniqueConstraint(fields=["adjustment", "station"], name="pc_ticket_void_station")]
        indexes = [models.Index(fields=["tenant_id", "station", "status", "created_at"], name="pc_ticket_display"),
                   models.Index(fields=["tenant_id", "status", "created_at"], name="pc_ticket_status")]

    def __str__(self) -> str:
        return f"{self.kind} ticket {self.order_number}/{self.station}"
