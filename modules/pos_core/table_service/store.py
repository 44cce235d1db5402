"""Writes of table service: one transaction in pos_core's database each.

Every change to a check goes through a conditional UPDATE of the order row (its `version`, or the amount still
due), so concurrent waiters and tills never lose each other's work: one wins, the other is told (409)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from pos.contracts.pos_core import OrderPlaced, OrderStatusChanged
from pos.events import publish
from pos.money import Money
from pos.tenancy import all_tenants, tenant_context

from ..errors import (
    AdjustmentRejected,
    CheckBusy,
    CheckHasPayments,
    CheckIsSplit,
    CheckNotOpen,
    OrderItemNotFound,
    OrderNotFound,
    PaymentExceedsDue,
    SplitRejected,
    StaleOrder,
    TicketNotFound,
)
from ..models import (
    AdjustmentKind,
    KitchenStation,
    KitchenTicket,
    Order,
    OrderAdjustment,
    OrderItem,
    OrderPayment,
    OrderPaymentStatus,
    OrderRound,
    OrderService,
    OrderStatus,
    RoundStatus,
    TableServiceSettings,
    TicketStatus,
)
from ..pricing import TaxPolicy, allocate, totals_from
from . import split as splitting

DB = "pos_core"
DEFAULT_STATION = "kitchen"


def settings_for(*, tenant_id: uuid.UUID) -> TableServiceSettings:
    """The restaurant's table-service rules (the defaults until a manager saves them)."""
    with tenant_context(tenant_id):
        found = TableServiceSettings.objects.filter().first()
    return found or TableServiceSettings(tenant_id=tenant_id)


def _order_for_update(order_id: uuid.UUID | str) -> Order:
    try:
        order_id = uuid.UUID(str(order_id))
    except ValueError:
        raise OrderNotFound(f"No order {order_id}.") from None
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise OrderNotFound(f"No order {order_id}.")
    return order


def _require_open(order: Order, *, allow_split_parent: bool = False) -> None:
    if order.service != OrderService.TABLE or order.status != OrderStatus.OPEN:
        raise CheckNotOpen(f"Order {order.number} is a {order.service} order, {order.status}; it takes no rounds, "
                           "voids, comps or payments.", status_now=order.status)
    if order.split_kind and not allow_split_parent:
        raise CheckIsSplit(f"Order {order.number} was split; use its parts.",
                           part_ids=[str(pk) for pk in order.parts.values_list("pk", flat=True)])


def _require_unpaid(order: Order) -> None:
    if order.paid or order.pending:
        raise AdjustmentRejected(f"Order {order.number} has payments; voids, comps and discounts come before payment "
                                 "(refund the order instead).", paid=order.paid, pending=order.pending)


def _bump(order: Order, expected_version: int | None, **fields: Any) -> None:
    """Raise the version (if the caller's is still current) and write `fields`, in one conditional UPDATE."""
    rows = Order.objects.filter(pk=order.pk)
    if expected_version is not None:
        rows = rows.filter(version=expected_version)
    if not rows.update(version=F("version") + 1, updated_at=timezone.now(), **fields):
        raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {expected_version}); reload it.",
                         current_version=Order.objects.filter(pk=order.pk).values_list("version", flat=True).first())
    order.refresh_from_db(using=DB)


def _policy(order: Order) -> TaxPolicy:
    return TaxPolicy(tax_rate=order.tax_rate, tax_inclusive=order.tax_inclusive,
                     service_charge_rate=order.service_charge_rate)


def _totals_fields(order: Order) -> dict[str, int]:
    """The check's totals from its items, comps and discounts (rounding from cash payments kept)."""
    c = order.currency
    items = order.items.aggregate(subtotal=Sum("line_total"), comps=Sum("comped"))
    discounts = order.adjustments.filter(kind=AdjustmentKind.DISCOUNT, status=OrderAdjustment.Status.DONE).aggregate(
        total=Sum("amount"))["total"] or 0
    subtotal = items["subtotal"] or 0
    discount = min((items["comps"] or 0) + discounts, subtotal)
    totals = totals_from(Money(subtotal, c), _policy(order), Money(discount, c))
    return {"subtotal": subtotal, "discount": discount, "service_charge": totals.service_charge.amount,
            "tax": totals.tax.amount, "total": totals.total.amount,
            "grand_total": totals.total.amount + order.rounding}


def _retotal(order: Order, expected_version: int | None) -> None:
    _bump(order, expected_version, **_totals_fields(order))


# --- opening a check --------------------------------------------------------------------------------

def check_open(*, tenant_id: uuid.UUID, idempotency_key: str, table_id: str, table_code: str, note: str,
               terminal_id: str, currency: str, locales: list[str], policy: dict[str, Any]) -> tuple[Order, bool]:
    """Open a check on a table (no charge) and publish pos_core.order_placed (status open) so the table's tab
    takes it. The same key returns the same check."""
    now = timezone.now()
    try:
        with transaction.atomic(using=DB), tenant_context(tenant_id):
            order_id = uuid.uuid4()
            order = Order.objects.create(
                id=order_id, tenant_id=tenant_id, number=order_id.hex[:8].upper(), saga_id=order_id,
                idempotency_key=idempotency_key, status=OrderStatus.OPEN, service=OrderService.TABLE,
                table_id=table_id, table_code=table_code, note=note, terminal_id=terminal_id, currency=currency,
                subtotal=0, service_charge=0, service_charge_rate=Decimal(policy["service_charge_rate"]), tax=0,
                tax_rate=Decimal(policy["tax_rate"]), tax_inclusive=policy["tax_inclusive"], total=0, rounding=0,
                grand_total=0, payment_id="", payment_method="", locales=locales, placed_at=now)
            publish(OrderPlaced(order_id=str(order.id), table_id=table_id, status=order.status, total=0,
                                currency=currency, item_count=0), tenant_id=tenant_id, using=DB)
        return order, True
    except IntegrityError:
        with tenant_context(tenant_id):
            return Order.objects.get(service=OrderService.TABLE, idempotency_key=idempotency_key), False


# --- rounds --------------------------------------------------------------------------------------

def round_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> OrderRound | None:
    with tenant_context(tenant_id):
        return OrderRound.objects.select_related("order").filter(idempotency_key=idempotency_key).first()


def round_start(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str, idempotency_key: str,
                expected_version: int | None, lines: list[dict[str, Any]], terminal_id: str) -> OrderRound:
    """Record the round (pending) and raise the check's version, or refuse a stale version (409)."""
    try:
        with transaction.atomic(using=DB), tenant_context(tenant_id):
            order = _order_for_update(order_id)
            same = OrderRound.objects.filter(idempotency_key=idempotency_key).first()
            if same is not None:  # the same key raced us here and won the check's lock
                return same
            _require_open(order)
            _bump(order, expected_version)
            number = (order.rounds.order_by("-number").values_list("number", flat=True).first() or 0) + 1
            return OrderRound.objects.create(tenant_id=tenant_id, order=order, number=number,
                                             idempotency_key=idempotency_key, lines=lines, terminal_id=terminal_id)
    except IntegrityError:
        found = round_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
        if found is None:
            raise
        return found


def round_attempt(*, round_: OrderRound) -> None:
    with tenant_context(round_.tenant_id):
        OrderRound.objects.filter(pk=round_.pk).update(attempts=F("attempts") + 1, updated_at=timezone.now())


def round_refused(*, round_: OrderRound, problem: dict[str, Any]) -> None:
    """Inventory refused the round (nothing reserved): it is kept as refused, and the same key answers the same."""
    with transaction.atomic(using=DB), tenant_context(round_.tenant_id):
        OrderRound.objects.filter(pk=round_.pk, status=RoundStatus.PENDING).update(
            status=RoundStatus.REFUSED, error=problem, updated_at=timezone.now())


def _stations(tenant_id: uuid.UUID) -> tuple[dict[str, str], str]:
    stations = list(KitchenStation.objects.all())
    by_category: dict[str, str] = {}
    default = next((s.key for s in stations if s.is_default), DEFAULT_STATION)
    for station in stations:
        for category_id in station.category_ids or []:
            by_category.setdefault(str(category_id), station.key)
    return by_category, default


def _ticket_line(item: OrderItem, quantity: int) -> dict[str, Any]:
    return {"item_id": str(item.id), "quantity": quantity, "product_id": item.product_id,
            "variant": item.variant or None, "product_names": item.product_names,
            "variant_names": item.variant_names,
            "options": [{"group": o["group"], "key": o["key"], "names": o["names"]} for o in item.options],
            "note": item.note, "seat": item.seat}


def round_record(*, round_: OrderRound, reservation_id: str) -> Order:
    """The round's stock is held: write its items, one kitchen ticket per station and the new totals, in one
    transaction. Idempotent: a round already sent changes nothing (no second ticket)."""
    tenant_id = round_.tenant_id
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        round_ = OrderRound.objects.select_for_update().get(pk=round_.pk)
        order = _order_for_update(round_.order_id)
        if round_.status != RoundStatus.PENDING:
            return order
        start = order.items.count()
        items = [OrderItem(
            tenant_id=tenant_id, order=order, round=round_, position=start + index, product_id=line["product_id"],
            variant=line["variant"] or "", product_names=line["product_names"], variant_names=line["variant_names"],
            category_id=line["category_id"] or "", category_names=line["category_names"], options=line["options"],
            currency=order.currency, unit_price=line["unit_price"], options_total=line["options_total"],
            quantity=line["quantity"], line_total=line["line_total"], allocated_total=0,
            product_version=line.get("product_version") or 0, snapshot=line["snapshot"], seat=line.get("seat"),
            note=line.get("note") or "") for index, line in enumerate(round_.lines)]
        OrderItem.objects.bulk_create(items)
        by_category, default = _stations(tenant_id)
        per_station: dict[str, list[dict[str, Any]]] = {}
        for item in items:
            per_station.setdefault(by_category.get(item.category_id, default), []).append(_ticket_line(item,
                                                                                                     item.quantity))
        KitchenTicket.objects.bulk_create([KitchenTicket(
            tenant_id=tenant_id, order=order, round=round_, station=station, kind=KitchenTicket.Kind.ROUND,
            order_number=order.number, table_id=order.table_id or "", table_code=order.table_code,
            round_number=round_.number, lines=lines) for station, lines in sorted(per_station.items())])
        OrderRound.objects.filter(pk=round_.pk).update(status=RoundStatus.SENT, reservation_id=reservation_id,
                                                       updated_at=timezone.now())
        fields = _totals_fields(order)
        _bump(order, None, **fields)
        return order


def round_committed(*, round_: OrderRound) -> None:
    with tenant_context(round_.tenant_id):
        OrderRound.objects.filter(pk=round_.pk).update(reservation_committed=True, updated_at=timezone.now())


def round_released(*, round_: OrderRound) -> None:
    """The round's stock went back to what can be sold (its check was cancelled)."""
    with tenant_context(round_.tenant_id):
        OrderRound.objects.filter(pk=round_.pk, status=RoundStatus.SENT, reservation_committed=False).update(
            status=RoundStatus.RELEASED, updated_at=timezone.now())


def rounds_to_release(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> list[OrderRound]:
    """The rounds of a cancelled check whose stock is still held."""
    with tenant_context(tenant_id):
        return list(OrderRound.objects.filter(order_id=order_id, order__status=OrderStatus.CANCELLED,
                                              status=RoundStatus.SENT, reservation_committed=False))


# --- voids, comps and discounts ---------------------------------------------------------------------

def adjustment_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> OrderAdjustment | None:
    with tenant_context(tenant_id):
        return OrderAdjustment.objects.select_related("item", "item__round", "order").filter(
            idempotency_key=idempotency_key).first()


def _item(order: Order, item_id: str) -> OrderItem:
    try:
        item_id = uuid.UUID(str(item_id))
    except ValueError:
        raise OrderItemNotFound(f"Order {order.number} has no item {item_id}.") from None
    item = order.items.select_for_update().filter(pk=item_id).first()
    if item is None:
        raise OrderItemNotFound(f"Order {order.number} has no item {item_id}.")
    return item


def void_start(*, tenant_id: uuid.UUID, order_id: str, item_id: str, idempotency_key: str, quantity: int | None,
               made: bool, reason: str, actor: str, actor_role: str, expected_version: int | None) -> OrderAdjustment:
    """Record the void (pending until inventory released or wrote off the stock)."""
    try:
        with transaction.atomic(using=DB), tenant_context(tenant_id):
            order = _order_for_update(order_id)
            same = OrderAdjustment.objects.filter(idempotency_key=idempotency_key).first()
            if same is not None:
                return same
            _require_open(order)
            _require_unpaid(order)
            item = _item(order, item_id)
            pending = item.adjustments.filter(kind=AdjustmentKind.VOID, status=OrderAdjustment.Status.PENDING).aggregate(
                q=Sum("quantity"))["q"] or 0
            left = item.quantity - pending
            quantity = left if quantity is None else quantity
            if quantity <= 0 or quantity > left:
                raise AdjustmentRejected(f"Only {left} of this item can be voided.", voidable=left)
            if expected_version is not None and order.version != expected_version:
                raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {expected_version}); "
                                 "reload it.", current_version=order.version)
            return OrderAdjustment.objects.create(
                tenant_id=tenant_id, order=order, item=item, kind=AdjustmentKind.VOID,
                status=OrderAdjustment.Status.PENDING, idempotency_key=idempotency_key, quantity=quantity,
                made=made, reason=reason, actor=actor, actor_role=actor_role)
    except IntegrityError:
        found = adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
        if found is None:
            raise
        return found


def void_failed(*, adjustment: OrderAdjustment, problem: dict[str, Any]) -> None:
    with tenant_context(adjustment.tenant_id):
        OrderAdjustment.objects.filter(pk=adjustment.pk, status=OrderAdjustment.Status.PENDING).update(
            status=OrderAdjustment.Status.FAILED, error=problem)


def void_record(*, adjustment: OrderAdjustment) -> Order:
    """Inventory has released (or written off) the stock: take the quantity off the item, write the void
    ticket for its station and the new totals. Idempotent."""
    tenant_id = adjustment.tenant_id
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        adjustment = OrderAdjustment.objects.select_for_update().get(pk=adjustment.pk)
        order = _order_for_update(adjustment.order_id)
        if adjustment.status != OrderAdjustment.Status.PENDING:
            return order
        item = OrderItem.objects.select_for_update().get(pk=adjustment.item_id)
        quantity = item.quantity - adjustment.quantity
        unit = item.unit_price + item.options_total
        comped_quantity = min(item.comped_quantity, quantity)
        OrderItem.objects.filter(pk=item.pk).update(
            quantity=quantity, voided_quantity=F("voided_quantity") + adjustment.quantity, line_total=unit * quantity,
            comped_quantity=comped_quantity, comped=unit * comped_quantity)
        item.refresh_from_db(using=DB)
        OrderAdjustment.objects.filter(pk=adjustment.pk).update(status=OrderAdjustment.Status.DONE)
        by_category, default = _stations(tenant_id)
        KitchenTicket.objects.create(
            tenant_id=tenant_id, order=order, adjustment=adjustment, station=by_category.get(item.category_id, default),
            kind=KitchenTicket.Kind.VOID, order_number=order.number, table_id=order.table_id or "",
            table_code=order.table_code, round_number=item.round.number if item.round_id else 0,
            lines=[{**_ticket_line(item, adjustment.quantity), "made": adjustment.made, "reason": adjustment.reason}])
        # Payments wait while a void is pending, so the check cannot drop below what is paid.
        _bump(order, None, **_totals_fields(order))
        return order


def comp_or_discount(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, kind: str,
                     item_id: str | None, quantity: int | None, amount: int | None, percent: Decimal | None,
                     reason: str, actor: str, actor_role: str, expected_version: int | None) -> OrderAdjustment:
    """A comp (items on the house) or a discount (an amount or a percent of what is still billed), with its
    reason and who made it. The same key answers the same adjustment."""
    existing = adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
    if existing is not None:
        return existing
    try:
        with transaction.atomic(using=DB), tenant_context(tenant_id):
            order = _order_for_update(order_id)
            same = OrderAdjustment.objects.filter(idempotency_key=idempotency_key).first()
            if same is not None:
                return same
            _require_open(order)
            _require_unpaid(order)
            if expected_version is not None and order.version != expected_version:
                raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {expected_version}); "
                                 "reload it.", current_version=order.version)
            item = None
            if kind == AdjustmentKind.COMP:
                item = _item(order, item_id)
                left = item.quantity - item.comped_quantity
                quantity = left if quantity is None else quantity
                if quantity <= 0 or quantity > left:
                    raise AdjustmentRejected(f"Only {left} of this item can still be comped.", compable=left)
                unit = item.unit_price + item.options_total
                amount = unit * quantity
                OrderItem.objects.filter(pk=item.pk).update(comped_quantity=F("comped_quantity") + quantity,
                                                            comped=F("comped") + amount)
            else:
                billable = order.subtotal - order.discount
                if percent is not None:
                    amount = int(Money(billable, order.currency).percent(percent).amount)
                if amount is None or amount <= 0:
                    raise AdjustmentRejected("The discount comes to nothing.")
                if amount > billable:
                    raise AdjustmentRejected(f"At most {billable} can still be discounted.", discountable=billable)
            adjustment = OrderAdjustment.objects.create(
                tenant_id=tenant_id, order=order, item=item, kind=kind, status=OrderAdjustment.Status.DONE,
                idempotency_key=idempotency_key, quantity=quantity or 0, amount=amount, percent=percent,
                reason=reason, actor=actor, actor_role=actor_role)
            _retotal(order, None)
            return adjustment
    except IntegrityError:
        found = adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
        if found is None:
            raise
        return found


# --- payments ------------------------------------------------------------------------------------

def payment_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> OrderPayment | None:
    with tenant_context(tenant_id):
        return OrderPayment.objects.filter(idempotency_key=idempotency_key).first()


def payment_start(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, method: str, amount: int, tip: int,
                  tendered: int | None, cash_unit: int, terminal_id: str) -> OrderPayment:
    """Hold `amount` on the check (one conditional UPDATE: never more than is still due, also under concurrent
    payments) and record the pending payment, before payment is asked to charge."""
    try:
        with transaction.atomic(using=DB), tenant_context(tenant_id):
            order = _order_for_update(order_id)
            # The same key raced us here and won the check's lock: its payment is the one.
            same = OrderPayment.objects.filter(idempotency_key=idempotency_key).first()
            if same is not None:
                return same
            _require_open(order)
            if order.adjustments.filter(status=OrderAdjustment.Status.PENDING).exists() or order.rounds.filter(
                    status=RoundStatus.PENDING).exists():
                raise CheckBusy(f"A round or a void of order {order.number} is still being sent; pay in a moment.")
            due = order.grand_total - order.paid - order.pending
            if method == "cash" and cash_unit > 1 and amount % cash_unit and amount != due:
                raise AdjustmentRejected(f"Cash is taken in multiples of {cash_unit}, or exactly what is due ({due}).",
                                         remaining_due=due)
            held = Order.objects.filter(pk=order.pk, status=OrderStatus.OPEN).filter(
                grand_total__gte=F("paid") + F("pending") + amount).update(
                pending=F("pending") + amount, version=F("version") + 1, updated_at=timezone.now())
            if not held:
                order.refresh_from_db(using=DB)
                due = order.grand_total - order.paid - order.pending
                raise PaymentExceedsDue(f"{Money(amount, order.currency)} is more than the "
                                        f"{Money(max(due, 0), order.currency)} still due.",
                                        remaining_due=max(due, 0), currency=order.currency)
            return OrderPayment.objects.create(
                tenant_id=tenant_id, order=order, idempotency_key=idempotency_key, method=method,
                currency=order.currency, amount=amount, tip=tip, tendered=tendered, terminal_id=terminal_id)
    except IntegrityError:
        found = payment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
        if found is None:
            raise
        return found


def payment_attempt(*, payment: OrderPayment) -> None:
    with tenant_context(payment.tenant_id):
        OrderPayment.objects.filter(pk=payment.pk).update(attempts=F("attempts") + 1)


def payment_captured(*, payment: OrderPayment, payment_id: str, captured: int, rounding: int,
                     change_due: int | None) -> Order:
    """The charge is captured: the held amount becomes paid (with its cash rounding), the tip is kept apart."""
    with transaction.atomic(using=DB), tenant_context(payment.tenant_id):
        order = _order_for_update(payment.order_id)
        settled = OrderPayment.objects.filter(pk=payment.pk, status=OrderPaymentStatus.PENDING).update(
            status=OrderPaymentStatus.CAPTURED, payment_id=payment_id, captured=captured, rounding=rounding,
            change_due=change_due, settled_at=timezone.now())
        if settled:
            Order.objects.filter(pk=order.pk).update(
                pending=F("pending") - payment.amount, paid=F("paid") + payment.amount + rounding,
                rounding=F("rounding") + rounding, grand_total=F("grand_total") + rounding,
                tips=F("tips") + payment.tip, version=F("version") + 1, updated_at=timezone.now())
            order.refresh_from_db(using=DB)
        return order


def payment_released(*, payment: OrderPayment, status: str, problem: dict[str, Any], payment_id: str = "") -> None:
    """Nothing was taken (declined, refused) or what was taken is refunded: the held amount is due again."""
    with transaction.atomic(using=DB), tenant_context(payment.tenant_id):
        released = OrderPayment.objects.filter(pk=payment.pk, status=OrderPaymentStatus.PENDING).update(
            status=status, error=problem, payment_id=payment_id, settled_at=timezone.now())
        if released:
            Order.objects.filter(pk=payment.order_id).update(pending=F("pending") - payment.amount,
                                                             version=F("version") + 1, updated_at=timezone.now())


# --- completion ----------------------------------------------------------------------------------

def order_complete(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order | None:
    """Complete a check paid in full (its rounds' stock is committed by then): each item's share of what was
    paid, the tender summary, pos_core.order_status_changed. For a split check: once every part is paid.
    Returns None when there is nothing to complete (still due, or already completed)."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        order = _order_for_update(order_id)
        if order.status != OrderStatus.OPEN or order.service != OrderService.TABLE:
            return None
        parts = list(order.parts.all()) if order.split_kind else []
        if parts:
            if any(part.status != OrderStatus.COMPLETED for part in parts):
                return None
            totals = {"paid": sum(p.paid for p in parts), "rounding": sum(p.rounding for p in parts),
                      "tips": sum(p.tips for p in parts)}
            Order.objects.filter(pk=order.pk).update(**totals, grand_total=order.total + totals["rounding"])
            order.refresh_from_db(using=DB)
            payments = list(OrderPayment.objects.filter(order__parent=order, status=OrderPaymentStatus.CAPTURED))
        else:
            if order.grand_total <= 0 or order.paid < order.grand_total:
                return None
            payments = list(order.payments.filter(status=OrderPaymentStatus.CAPTURED))
        items = list(order.items.all())
        shares = allocate(Money(order.paid, order.currency), [max(i.line_total - i.comped, 0) for i in items])
        for item, share in zip(items, shares, strict=True):
            if item.allocated_total != share.amount:
                OrderItem.objects.filter(pk=item.pk).update(allocated_total=share.amount)
        methods = sorted({p.method for p in payments})
        cash = [p for p in payments if p.method == "cash"]
        now = timezone.now()
        # a tender refunded on the payment side while the check was open is counted already
        status = OrderStatus.COMPLETED if not order.refunded else (
            OrderStatus.REFUNDED if order.refunded >= order.grand_total else OrderStatus.PARTIALLY_REFUNDED)
        Order.objects.filter(pk=order.pk).update(
            status=status, completed_at=now, version=F("version") + 1, updated_at=now,
            payment_method=methods[0] if len(methods) == 1 else "split",
            payment_id=payments[0].payment_id if len(payments) == 1 else "",
            tendered=sum(p.tendered or 0 for p in cash) if cash else None,
            change_due=sum(p.change_due or 0 for p in cash) if cash else None)
        order.refresh_from_db(using=DB)
        publish(OrderStatusChanged(order_id=str(order.id), table_id=order.table_id, status=order.status,
                                   version=order.version), tenant_id=tenant_id, using=DB)
        return order


def check_cancel_if_empty(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order | None:
    """Every item was voided and nothing is paid: the check is cancelled (leaves its tab)."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        order = _order_for_update(order_id)
        if (order.status != OrderStatus.OPEN or order.service != OrderService.TABLE or order.split_kind
                or order.paid or order.pending or not order.items.exists()
                or order.items.filter(quantity__gt=0).exists()
                or order.rounds.filter(status=RoundStatus.PENDING).exists()):
            return None
        now = timezone.now()
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.CANCELLED, completed_at=now,
                                                 version=F("version") + 1, updated_at=now)
        order.refresh_from_db(using=DB)
        publish(OrderStatusChanged(order_id=str(order.id), table_id=order.table_id, status=order.status,
                                   version=order.version), tenant_id=tenant_id, using=DB)
        return order


def check_cancel(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order:
    """Cancel an abandoned check (and its parts, if split) on which nothing was paid: it leaves its tab; the
    stock its rounds hold is released next (`rounds_to_release`). Refuses a check with money taken or a payment
    in flight (CheckHasPayments: refund it instead), a round or void still being sent (CheckBusy), a check that
    is not open (CheckNotOpen) and a part of a split check (cancel the check it was split from)."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        order = _order_for_update(order_id)
        _require_open(order, allow_split_parent=True)
        if order.parent_id:
            raise CheckNotOpen(f"Order {order.number} is a part of a split check; cancel the check itself.",
                               status_now=order.status)
        checks = [order, *Order.objects.select_for_update().filter(parent=order)]
        ids = [check.pk for check in checks]
        taken = OrderPayment.objects.filter(order_id__in=ids).exclude(
            status__in=[OrderPaymentStatus.DECLINED, OrderPaymentStatus.REFUNDED])
        if any(check.paid or check.pending for check in checks) or taken.exists():
            raise CheckHasPayments(f"Order {order.number} has payments taken or in flight; it is not cancelled "
                                   "(refund it instead).", paid=sum(check.paid for check in checks))
        if OrderRound.objects.filter(order=order, status=RoundStatus.PENDING).exists() or OrderAdjustment.objects.filter(
                order_id__in=ids, status=OrderAdjustment.Status.PENDING).exists():
            raise CheckBusy(f"A round or a void of order {order.number} is still being sent; try again in a moment.")
        now = timezone.now()
        Order.objects.filter(pk__in=ids, status=OrderStatus.OPEN).update(
            status=OrderStatus.CANCELLED, completed_at=now, version=F("version") + 1, updated_at=now)
        order.refresh_from_db(using=DB)
        publish(OrderStatusChanged(order_id=str(order.id), table_id=order.table_id, status=order.status,
                                   version=order.version), tenant_id=tenant_id, using=DB)
        return order


# --- splitting -----------------------------------------------------------------------------------

def check_split(*, tenant_id: uuid.UUID, order_id: str, by: str, count: int | None,
                parts: list[list[dict[str, Any]]] | None, expected_version: int | None) -> Order:
    """Split an open, unpaid check into parts (child orders) that each pay on their own; see split.py for the
    arithmetic. Refuses (SplitRejected) an assignment that leaves out or repeats a unit of an item."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        order = _order_for_update(order_id)
        _require_open(order)
        if order.parent_id:
            raise SplitRejected("A part of a split check cannot be split again.")
        if order.paid or order.pending:
            raise SplitRejected("Part of this check is paid already; split it before taking payments.")
        if order.rounds.filter(status=RoundStatus.PENDING).exists() or order.adjustments.filter(
                status=OrderAdjustment.Status.PENDING).exists():
            raise SplitRejected("A round or a void is still being sent; try again in a moment.")
        items = [i for i in order.items.all() if i.quantity > 0]
        if not items:
            raise SplitRejected("The check has nothing to split.")
        check = splitting.CheckAmounts(
            currency=order.currency, subtotal=order.subtotal, discount=order.discount,
            comps=sum(i.comped for i in items), service_charge=order.service_charge, tax=order.tax,
            tax_inclusive=order.tax_inclusive, total=order.total)
        amounts = {str(i.id): splitting.ItemAmounts(id=str(i.id), quantity=i.quantity,
                                                    unit_total=i.unit_price + i.options_total, comped=i.comped,
                                                    seat=i.seat) for i in items}
        labels: list[str]
        if by == "equal":
            if count is None or not 2 <= count <= 20:
                raise SplitRejected("Split into 2 to 20 equal parts.")
            result = splitting.split_equal(check, count)
            labels = [f"{k + 1}/{count}" for k in range(count)]
        elif by == "seats":
            seats, result = splitting.split_by_seats(check, list(amounts.values()))
            if len(seats) < 2:
                raise SplitRejected("Items must be on at least two seats to split by seats.")
            labels = [f"seat {seat}" for seat in seats]
        else:
            assignment = _assignment(parts or [], amounts)
            result = splitting.split_by_items(check, amounts, assignment)
            labels = [f"{k + 1}/{len(result)}" for k in range(len(result))]
        _bump(order, expected_version, split_kind=by)
        by_id = {str(i.id): i for i in items}
        now = timezone.now()
        for index, (part, label) in enumerate(zip(result, labels, strict=True), start=1):
            child = Order.objects.create(
                tenant_id=tenant_id, number=f"{order.number}-{index}", saga_id=uuid.uuid4(),
                idempotency_key=f"{order.idempotency_key}|split-{index}", status=OrderStatus.OPEN,
                service=OrderService.TABLE, parent=order, table_id=order.table_id, table_code=order.table_code,
                note=label, terminal_id=order.terminal_id, currency=order.currency, subtotal=part.subtotal,
                discount=part.discount, service_charge=part.service_charge,
                service_charge_rate=order.service_charge_rate, tax=part.tax, tax_rate=order.tax_rate,
                tax_inclusive=order.tax_inclusive, total=part.total, rounding=0, grand_total=part.total,
                payment_id="", payment_method="", locales=order.locales, placed_at=now)
            OrderItem.objects.bulk_create([OrderItem(
                tenant_id=tenant_id, order=child, position=position, product_id=source.product_id,
                variant=source.variant, product_names=source.product_names, variant_names=source.variant_names,
                category_id=source.category_id, category_names=source.category_names, options=source.options,
                currency=source.currency, unit_price=source.unit_price, options_total=source.options_total,
                quantity=quantity, line_total=line_total, allocated_total=0, product_version=source.product_version,
                snapshot={}, seat=source.seat, note=source.note, comped=comp, source_item=source,
                comped_quantity=min(source.comped_quantity, quantity))
                for position, (source_id, quantity, line_total, comp) in enumerate(part.items)
                for source in [by_id[source_id]]])
        order.refresh_from_db(using=DB)
        return order


def _assignment(parts: list[list[dict[str, Any]]], amounts: dict[str, splitting.ItemAmounts]
                ) -> list[list[tuple[str, int]]]:
    if not 2 <= len(parts) <= 20:
        raise SplitRejected("Name 2 to 20 parts, each with its items.")
    assigned: dict[str, int] = {}
    result: list[list[tuple[str, int]]] = []
    for index, entries in enumerate(parts):
        if not entries:
            raise SplitRejected(f"Part {index + 1} has no items.")
        part: list[tuple[str, int]] = []
        for entry in entries:
            item_id = str(entry["item_id"])
            if item_id not in amounts:
                raise SplitRejected(f"The check has no item {item_id} (or it was voided).", item_id=item_id)
            quantity = entry.get("quantity") or amounts[item_id].quantity
            assigned[item_id] = assigned.get(item_id, 0) + quantity
            part.append((item_id, quantity))
        result.append(part)
    wrong = {item_id: (assigned.get(item_id, 0), a.quantity) for item_id, a in amounts.items()
             if assigned.get(item_id, 0) != a.quantity}
    if wrong:
        raise SplitRejected("Every unit of every item must be in exactly one part.", items=[
            {"item_id": item_id, "assigned": got, "quantity": want} for item_id, (got, want) in wrong.items()])
    return result


# --- kitchen -------------------------------------------------------------------------------------

def ticket_bump(*, tenant_id: uuid.UUID, ticket_id: str, actor: str) -> KitchenTicket:
    """The station is done with the ticket. Bumping a bumped ticket changes nothing."""
    try:
        ticket_id = uuid.UUID(str(ticket_id))
    except ValueError:
        raise TicketNotFound(f"No kitchen ticket {ticket_id}.") from None
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        ticket = KitchenTicket.objects.filter(pk=ticket_id).first()
        if ticket is None:
            raise TicketNotFound(f"No kitchen ticket {ticket_id}.")
        if KitchenTicket.objects.filter(pk=ticket.pk, status=TicketStatus.NEW).update(
                status=TicketStatus.BUMPED, bumped_at=timezone.now(), bumped_by=actor[:100]):
            ticket.refresh_from_db(using=DB)
        return ticket


# --- abandoned checks ----------------------------------------------------------------------------

def checks_flag_stale(*, now=None) -> int:
    """Flag open checks older than their restaurant's limit (shown to the manager; never dropped)."""
    now = now or timezone.now()
    flagged = 0
    with all_tenants():
        limits = {row.tenant_id: row.open_order_limit_minutes for row in TableServiceSettings.objects.all()}
        default = TableServiceSettings._meta.get_field("open_order_limit_minutes").default
        candidates = list(Order.objects.filter(status=OrderStatus.OPEN, service=OrderService.TABLE,
                                               flagged_at__isnull=True, placed_at__lt=now - timedelta(minutes=1))
                          .values_list("pk", "tenant_id", "placed_at"))
        due = [pk for pk, tenant_id, placed_at in candidates
               if placed_at < now - timedelta(minutes=limits.get(tenant_id, default))]
        if due:
            flagged = Order.objects.filter(pk__in=due, flagged_at__isnull=True).update(flagged_at=now)
    return flagged


def stuck_work(*, older_than: timedelta) -> dict[str, list]:
    """Rounds, voids and payments left pending by a crash, checks paid in full but not completed, and cancelled
    checks whose rounds still hold stock."""
    cutoff = timezone.now() - older_than
    with all_tenants():
        return {
            "rounds": list(OrderRound.objects.filter(status=RoundStatus.PENDING, updated_at__lt=cutoff)),
            "voids": list(OrderAdjustment.objects.filter(kind=AdjustmentKind.VOID, status=OrderAdjustment.Status.PENDING,
                                                         created_at__lt=cutoff)),
            "payments": list(OrderPayment.objects.filter(status=OrderPaymentStatus.PENDING, created_at__lt=cutoff)),
            "released": list(OrderRound.objects.filter(status=RoundStatus.SENT, reservation_committed=False,
                                                       order__status=OrderStatus.CANCELLED, updated_at__lt=cutoff)
                             .values_list("order_id", "tenant_id").distinct()),
            "paid": list(Order.objects.filter(status=OrderStatus.OPEN, service=OrderService.TABLE,
                                              updated_at__lt=cutoff).filter(
                Q(grand_total__gt=0, paid__gte=F("grand_total"), split_kind="") | ~Q(split_kind=""))
                .values_list("pk", "tenant_id")),
        }
