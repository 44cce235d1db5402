"""Writes of the pos_core module: one transaction in its own database each.

The saga's persistence (start, claim, step log), recording an order from a finished saga, refunds, order
state transitions, the stock level kept from inventory events and low-stock alerts."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, Sum
from django.utils import timezone

from pos.contracts.pos_core import OrderPlaced, OrderStatusChanged
from pos.db import alone
from pos.db.bulk import Rows, copy_insert, insert_together, refresh_statistics
from pos.db.hot import update_where
from pos.events import publish
from pos.money import Money
from pos.numbers import is_integer
from pos.tenancy import all_tenants, tenant_context

from . import stock_cache
from .errors import InvalidTransition, OrderNotFound, RefundRejected, SagaInProgress, StaleOrder
from .models import (
    ORDER_TRANSITIONS,
    AlertStatus,
    LowStockAlert,
    Order,
    OrderItem,
    OrderPayment,
    OrderPaymentStatus,
    OrderRefund,
    OrderSaga,
    OrderStatus,
    RefundLine,
    RefundStatus,
    RefundTender,
    SagaLogEntry,
    SagaStatus,
    SagaStep,
    StockLevel,
)
from .pricing import allocate

DB = "pos_core"


# --- the saga's persistence ----------------------------------------------------------------------

def saga_start(*, tenant_id: uuid.UUID, idempotency_key: str, request: dict[str, Any],
               lease_seconds: int) -> tuple[OrderSaga, bool]:
    """Create the saga for (tenant, Idempotency-Key), holding its lease (one INSERT; its log line is written with
    the saga's next write); or return the existing one."""
    now = timezone.now()
    saga = OrderSaga(tenant_id=tenant_id, idempotency_key=idempotency_key, order_id=uuid.uuid4(), request=request,
                     current="reserve", locked_until=now + timedelta(seconds=lease_seconds))
    try:
        with tenant_context(tenant_id), alone(DB):
            insert_together(DB, [saga])  # its statement text is kept: no compiling per placement
    except IntegrityError:
        with tenant_context(tenant_id):
            return OrderSaga.objects.get(idempotency_key=idempotency_key), False
    _log_later(saga, action="start", detail=f"{len(request['lines'])} line(s)")
    return saga, True


def _log_entry(saga: OrderSaga, action: str, outcome: str, detail: str) -> SagaLogEntry:
    # By id: assigning the saga itself would ask the database router where it lives, for every line.
    return SagaLogEntry(tenant_id=saga.tenant_id, saga_id=saga.id, action=action, outcome=outcome,
                        detail=detail[:2000], at=timezone.now())


def _write_log(entries: list[SagaLogEntry]) -> None:
    """The log lines in one INSERT, each with the time its action happened (kept, not stamped at the insert:
    `raw`), so the log reads in the order things were done."""
    if entries:
        fields = [f for f in SagaLogEntry._meta.concrete_fields]
        SagaLogEntry.objects.using(DB)._insert(entries, fields=fields, using=DB, raw=True)


def _log_later(saga: OrderSaga, *, action: str, detail: str = "") -> None:
    saga.__dict__.setdefault("_unsaved", {"fields": {}, "log": []})["log"].append(
        _log_entry(saga, action, SagaLogEntry.Outcome.OK, detail))


def saga_claim(*, saga_id: uuid.UUID, lease_seconds: int, force: bool = False) -> bool:
    """Take the saga's lease so one process at a time drives it. False when someone else holds it."""
    now = timezone.now()
    with all_tenants():
        rows = OrderSaga.objects.filter(pk=saga_id)
        if not force:
            from django.db.models import Q

            rows = rows.filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        return rows.update(locked_until=now + timedelta(seconds=lease_seconds), updated_at=now) == 1


def saga_release(*, saga_id: uuid.UUID) -> None:
    with all_tenants():
        OrderSaga.objects.filter(pk=saga_id).update(locked_until=None)


def saga_log(*, saga: OrderSaga, action: str, outcome: str, detail: str = "") -> None:
    _write_log([_log_entry(saga, action, outcome, detail)])


def saga_note(*, saga: OrderSaga, action: str, detail: str = "", **fields: Any) -> None:
    """Remember an action's outcome that another module already holds durably (found again by the saga's key),
    to be written with the saga's next write (`saga_save` or `order_record`) instead of a write of its own.
    Until then the saved row does not have it, and nothing is decided from it: a crash before that write goes
    on from the saved row and asks the other module by key."""
    saga.__dict__.setdefault("_unsaved", {"fields": {}, "log": []})["fields"].update(fields)
    _log_later(saga, action=action, detail=detail)


def _take_unsaved(saga: OrderSaga) -> tuple[dict[str, Any], list[SagaLogEntry]]:
    unsaved = saga.__dict__.pop("_unsaved", None) or {"fields": {}, "log": []}
    return unsaved["fields"], unsaved["log"]


def saga_save(*, saga: OrderSaga, action: str, outcome: str = SagaLogEntry.Outcome.OK, detail: str = "",
              **fields: Any) -> None:
    """Persist what an action did (step, status, ids, what the other module answered, the next intent) and its
    log line, in one transaction, with the outcomes noted since the last write (`saga_note`). The in-memory saga
    changes only once that committed, so nothing is ever decided from a value the database does not hold."""
    now = timezone.now()
    noted, log = _take_unsaved(saga)
    fields = {**noted, **fields}
    if fields.get("status") in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED):
        fields["finished_at"] = now
    if "current" in fields or fields.get("step") is not None:
        fields.setdefault("current", "")
    entry = _log_entry(saga, action, outcome, detail)
    with transaction.atomic(using=DB), tenant_context(saga.tenant_id):
        OrderSaga.objects.filter(pk=saga.pk).update(updated_at=now, attempts=F("attempts") + 1, **fields)
        _write_log([*log, entry])
    for name, value in fields.items():
        setattr(saga, name, value)
    saga.attempts += 1
    saga.updated_at = now


# --- orders --------------------------------------------------------------------------------------

def order_record(*, saga: OrderSaga) -> Order:
    """Record the order from a saga whose payment is captured and reservation committed, and finish the saga
    (the outcomes noted since its last write, its lease released), in one transaction with the
    pos_core.order_placed event. Idempotent: the order id is the saga's, and only the write that moves the saga
    to recorded records it. Returns the order with its items (nothing read back)."""
    request = saga.request
    currency = request["currency"]
    noted, log = _take_unsaved(saga)
    state = {"payment_id": saga.payment_id, "payment": saga.payment, "reservation_committed":
             saga.reservation_committed, **noted}
    payment = state["payment"]
    rounding = int(payment.get("rounding_adjustment", 0))
    totals = request["totals"]
    grand_total = totals["total"] + rounding
    captured = int(payment.get("captured", grand_total))
    lines = request["lines"]
    shares = allocate(Money(captured, currency), [line["line_total"] for line in lines])
    now = timezone.now()
    status = OrderStatus.OPEN if request.get("table_id") else OrderStatus.COMPLETED
    order = Order(
        id=saga.order_id, tenant_id=saga.tenant_id, number=saga.order_id.hex[:8].upper(), saga_id=saga.id,
        idempotency_key=saga.idempotency_key, status=status, table_id=request.get("table_id"),
        table_code=request.get("table_code") or "", note=request.get("note") or "",
        terminal_id=request.get("terminal_id") or "", currency=currency, subtotal=totals["subtotal"],
        service_charge=totals["service_charge"], service_charge_rate=Decimal(request["policy"]["service_charge_rate"]),
        tax=totals["tax"], tax_rate=Decimal(request["policy"]["tax_rate"]),
        tax_inclusive=request["policy"]["tax_inclusive"], total=totals["total"], rounding=rounding,
        grand_total=captured, payment_id=state["payment_id"], payment_method=request["payment"]["method"],
        tendered=payment.get("tendered"), change_due=payment.get("change_due"), locales=request.get("locales", []),
        placed_at=now, completed_at=None if status == OrderStatus.OPEN else now)
    items = [
        OrderItem(
            tenant_id=saga.tenant_id, order=order, position=index, product_id=line["product_id"],
            variant=line["variant"] or "", product_names=line["product_names"],
            variant_names=line["variant_names"], category_id=line["category_id"] or "",
            category_names=line["category_names"], options=line["options"], currency=currency,
            unit_price=line["unit_price"], options_total=line["options_total"], quantity=line["quantity"],
            line_total=line["line_total"], allocated_total=share.amount,
            product_version=line.get("product_version") or 0, snapshot=line["snapshot"])
        for index, (line, share) in enumerate(zip(lines, shares, strict=True))
    ]
    fields = {**state, "step": SagaStep.RECORDED, "status": SagaStatus.COMPLETED, "current": "", "finished_at": now,
              "locked_until": None}
    log.append(_log_entry(saga, "record", SagaLogEntry.Outcome.OK, f"order {order.number}"))
    with transaction.atomic(using=DB), tenant_context(saga.tenant_id):
        # The saga's row decides: only the write that moves it to recorded records the order (its row lock
        # makes a second recorder wait, then find it recorded).
        moved = update_where(OrderSaga, using=DB, where={"pk": saga.pk, "status": SagaStatus.RUNNING},
                             where_not={"step": SagaStep.RECORDED},
                             values={"updated_at": now, "attempts": F("attempts") + 1, **fields})
        if not moved:
            existing = Order.objects.filter(pk=saga.order_id).first()
            if existing is None:
                raise SagaInProgress(f"Saga {saga.id} is no longer running (an operator took it over); its order "
                                     "was not recorded.", saga_id=str(saga.id))
            return existing
        # The order, its items, its event and the saga's log lines: one statement (on PostgreSQL), sent with the
        # COMMIT.
        publish(OrderPlaced(order_id=str(order.id), table_id=order.table_id, status=order.status,
                            total=order.grand_total, currency=currency,
                            item_count=sum(line["quantity"] for line in lines)),
                tenant_id=saga.tenant_id, using=DB, together=[[order], items, Rows(log, raw=True)], commit=True)
    for name, value in fields.items():
        setattr(saga, name, value)
    saga.attempts += 1
    saga.updated_at = now
    # The order as the terminal is answered it: its items as written, nothing else yet (a new order).
    order._prefetched_objects_cache = _NewOrderRelations(order, items)
    return order


def _prefetched(queryset, rows: list):
    queryset._result_cache = list(rows)
    queryset._prefetch_done = True
    return queryset


class _NewOrderRelations(dict):
    """A new order's prefetched relations, so reading them asks the database nothing: its items as written, and
    none yet of the others. Those empty ones are made when first asked for (a placement whose caller does not
    read them does not pay for building them)."""

    EMPTY = ("refunds", "payments", "adjustments", "parts")

    def __init__(self, order: Order, items: list[OrderItem]) -> None:
        super().__init__()
        self.order = order
        self.building: set[str] = set()
        with tenant_context(order.tenant_id):
            self["items"] = _prefetched(order.items.all(), items)

    def __contains__(self, name: object) -> bool:  # what `prefetch_related` asks before fetching
        return name in self.EMPTY or super().__contains__(name)

    def get(self, name: str, default=None):
        return self[name] if name in self else default

    def __missing__(self, name: str):
        if name not in self.EMPTY or name in self.building:
            raise KeyError(name)  # the related manager then builds its queryset as usual
        self.building.add(name)
        try:
            with tenant_context(self.order.tenant_id):  # the order's own tenant, whoever reads it
                queryset = getattr(self.order, name).all()
        finally:
            self.building.discard(name)
        self[name] = _prefetched(queryset, [])
        return self[name]


def _publish_status(order: Order) -> None:
    publish(OrderStatusChanged(order_id=str(order.id), table_id=order.table_id, status=order.status,
                               version=order.version), tenant_id=order.tenant_id, using=DB)


def _move(order: Order, to: str, expected_version: int | None = None, **fields: Any) -> Order:
    """Checked transition with optimistic locking: a stale version is refused with 409."""
    if to not in ORDER_TRANSITIONS[order.status]:
        raise InvalidTransition(f"Order {order.number} is {order.status}; it cannot become {to}.",
                                status_now=order.status, requested=to)
    version = order.version if expected_version is None else expected_version
    updated = Order.objects.filter(pk=order.pk, version=version).update(
        status=to, version=F("version") + 1, updated_at=timezone.now(), **fields)
    if not updated:
        raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {version}); reload it.",
                         current_version=Order.objects.filter(pk=order.pk).values_list("version", flat=True).first())
    order.refresh_from_db(using=DB)
    _publish_status(order)
    return order


def orders_complete_tab(*, tenant_id: uuid.UUID, table_id: str, order_ids: list[str]) -> int:
    """A tab was closed: its open orders are completed. Orders already completed are left alone."""
    valid_ids = []
    for value in order_ids:
        try:
            valid_ids.append(uuid.UUID(str(value)))
        except ValueError:
            continue
    done = 0
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        # A table check completes when it is paid in full, never because its table was cleared.
        for order in Order.objects.select_for_update().filter(pk__in=valid_ids, status=OrderStatus.OPEN,
                                                              service="counter"):
            _move(order, OrderStatus.COMPLETED, completed_at=timezone.now())
            done += 1
    return done


# --- refunds: one model whatever the door ---------------------------------------------------------------
#
# A refund asked on the order (terminal, admin) is recorded `pending` first, holding its units on the lines and
# its amount on the order under the order's row lock, so concurrent refunds can never pass what was sold or paid;
# then payment is asked with a key derived from the refund id; its answer (or its `payment.refunded` event,
# whichever comes first) settles it once. A refund made on the payment side arrives only as the event and is
# recorded once per payment refund id. Reports count succeeded refunds only.

@dataclasses.dataclass(frozen=True)
class RefundPlan:
    amount: int
    lines: list[tuple[OrderItem, int, int]]  # (item, quantity, amount)


REFUNDABLE_ORDER_STATUSES = (OrderStatus.OPEN, OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED)


def _pending_refunds(order: Order) -> int:
    return OrderRefund.objects.filter(order=order, status=RefundStatus.PENDING).aggregate(
        total=Sum("amount"))["total"] or 0


def refund_plan(*, order: Order, amount: int | None, items: list[dict[str, Any]] | None, restock: bool = False,
                held: int = 0) -> RefundPlan:
    """Work out how much to refund and how it splits over the items (`held`: amounts of refunds in flight).
    With `restock` and no items, every unit not yet refunded goes back. Raises RefundRejected."""
    if order.status not in REFUNDABLE_ORDER_STATUSES or (order.service == "table" and order.status == OrderStatus.OPEN):
        raise RefundRejected(f"Order {order.number} is {order.status}; nothing can be refunded.")
    remaining = order.refundable - held
    all_items = list(order.items.all())
    by_id = {str(item.id): item for item in all_items}
    chosen: list[tuple[OrderItem, int]] = []
    for entry in items or []:
        item = by_id.get(str(entry.get("item_id")))
        quantity = entry.get("quantity")
        if item is None:
            raise RefundRejected(f"Order {order.number} has no item {entry.get('item_id')}.")
        if not is_integer(quantity) or quantity <= 0:
            raise RefundRejected("Refund quantities must be positive integers.")
        already = sum(q for chosen_item, q in chosen if chosen_item.pk == item.pk)
        if quantity + already > item.refundable_quantity:
            raise RefundRejected(f"Only {item.refundable_quantity} of item {item.id} can be refunded.",
                                 item_id=str(item.id), refundable_quantity=item.refundable_quantity)
        chosen.append((item, quantity))
    if amount is None:
        if chosen:
            amount = sum(Money(item.allocated_total, order.currency).portion(q, item.quantity).amount
                         for item, q in chosen)
        else:
            amount = remaining
    if not is_integer(amount) or amount <= 0:
        raise RefundRejected("The refund amount must be a positive integer number of minor units."
                             if remaining > 0 else f"Order {order.number} has nothing left to refund.",
                             refundable=max(remaining, 0))
    if amount > remaining:
        raise RefundRejected(f"At most {max(remaining, 0)} {order.currency} can still be refunded.",
                             refundable=max(remaining, 0))
    if chosen:
        weights_for = chosen
    elif restock:
        weights_for = [(item, item.refundable_quantity) for item in all_items]
    else:
        weights_for = [(item, 0) for item in all_items]
    weights = [max(item.allocated_total, 0) for item, _ in weights_for]
    if not any(weights):
        weights = [1] * len(weights_for)
    shares = allocate(Money(amount, order.currency), weights)
    return RefundPlan(amount=amount, lines=[(item, q, share.amount)
                                            for (item, q), share in zip(weights_for, shares, strict=True)])


def refund_id_for(*, tenant_id: uuid.UUID, idempotency_key: str) -> uuid.UUID:
    """A refund's id follows from its tenant and Idempotency-Key, so every step of it (payment's refund, the
    stock taken back) carries a key known before anything is done, and a retry finds what was done."""
    return uuid.uuid5(uuid.UUID(str(tenant_id)), f"order-refund:{idempotency_key}")


def refund_payment_key(refund: OrderRefund) -> str:
    """The Idempotency-Key pos_core gives payment for this refund."""
    return f"order-refund-{refund.id}"


def order_refund_begin(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str, idempotency_key: str,
                       amount: int | None, items: list[dict[str, Any]] | None, restock: bool, reason: str,
                       actor: str, expected_version: int | None = None,
                       terminal_id: str = "") -> tuple[OrderRefund, bool]:
    """Record the refund `pending`, holding its units on the lines and its amount on the order, under the
    order's row lock. Returns (refund, created); the same key again returns the existing refund.
    Raises OrderNotFound, StaleOrder (409), RefundRejected (422)."""
    refund_id = refund_id_for(tenant_id=tenant_id, idempotency_key=idempotency_key)
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        existing = OrderRefund.objects.filter(pk=refund_id).first()
        if existing is not None:
            return existing, False
        try:
            order = Order.objects.select_for_update().get(pk=order_id)
        except (Order.DoesNotExist, ValueError, ValidationError):
            raise OrderNotFound(f"No order {order_id}.") from None
        existing = OrderRefund.objects.filter(pk=refund_id).first()  # a twin request that held the lock first
        if existing is not None:
            return existing, False
        if expected_version is not None and order.version != expected_version:
            raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {expected_version}).",
                             current_version=order.version)
        plan = refund_plan(order=order, amount=amount, items=items, restock=restock, held=_pending_refunds(order))
        for item, quantity, _ in plan.lines:
            # Conditional, so even without the row lock (SQLite) a line is never refunded beyond what it sold.
            if quantity and not OrderItem.objects.filter(
                    pk=item.pk, refunded_quantity__lte=F("quantity") - quantity).update(
                    refunded_quantity=F("refunded_quantity") + quantity):
                raise RefundRejected(f"Item {item.id} cannot take back {quantity} more.", item_id=str(item.id))
        tenders = _tender_plan(order, plan.amount) if order.service == "table" else []
        refund = OrderRefund.objects.create(
            id=refund_id, tenant_id=tenant_id, order=order, idempotency_key=idempotency_key, status=RefundStatus.PENDING,
            source="order", amount=plan.amount, currency=order.currency, payment_method=order.payment_method,
            reason=reason, restocked=restock and any(q for _, q, _ in plan.lines), actor=actor, terminal_id=terminal_id,
            created_at=timezone.now())
        RefundTender.objects.bulk_create([
            RefundTender(tenant_id=tenant_id, refund=refund, tender=tender, method=tender.method, amount=part)
            for tender, part in tenders])
        RefundLine.objects.bulk_create([
            RefundLine(tenant_id=tenant_id, refund=refund, item=item, product_id=item.product_id,
                       category_id=item.category_id, quantity=quantity, amount=share)
            for item, quantity, share in plan.lines
        ])
        Order.objects.filter(pk=order.pk).update(version=F("version") + 1, updated_at=timezone.now())
    return refund, True


def check_tenders_of(order: Order) -> list[OrderPayment]:
    """The captured tenders of a table check (or of its parts, when split), oldest first."""
    return list(OrderPayment.objects.filter(Q(order_id=order.pk) | Q(order__parent_id=order.pk),
                                            status=OrderPaymentStatus.CAPTURED).order_by("created_at", "id"))


def _tender_plan(order: Order, amount: int) -> list[tuple[OrderPayment, int]]:
    """Which tenders a table check's refund is taken from: the newest first, each at most what it paid toward the
    bill (tips stay with the staff) less what it gave back or holds for refunds in flight. Decided once, under
    the check's row lock, and kept with the refund, so a retry repeats the same calls and two refunds at once
    never plan the same money. Raises RefundRejected when the tenders cannot cover `amount`."""
    tenders = check_tenders_of(order)
    held = dict(RefundTender.objects.filter(tender__in=tenders, refund__status=RefundStatus.PENDING)
                .values("tender_id").annotate(total=Sum("amount")).values_list("tender_id", "total"))
    plan, left = [], amount
    for tender in reversed(tenders):
        part = min(left, tender.amount + tender.rounding - tender.refunded - (held.get(tender.pk) or 0))
        if part > 0:
            plan.append((tender, part))
            left -= part
    if left > 0:
        raise RefundRejected(f"The tenders of order {order.number} cannot cover {Money(amount, order.currency)}.",
                             refundable=amount - left)
    return plan


def _apply_refund_to_order(order: Order, amount: int) -> None:
    if order.status == OrderStatus.OPEN and order.service == "table":
        # a tender of a check still open was refunded on the payment side: the check counts it, and completes
        # as (partially) refunded
        Order.objects.filter(pk=order.pk).update(refunded=F("refunded") + amount, version=F("version") + 1,
                                                 updated_at=timezone.now())
        return
    refunded = order.refunded + amount
    to = OrderStatus.REFUNDED if refunded >= order.grand_total else OrderStatus.PARTIALLY_REFUNDED
    if to in ORDER_TRANSITIONS[order.status]:
        _move(order, to, order.version, refunded=refunded)
    else:  # already refunded in full: keep the status, still count the money
        Order.objects.filter(pk=order.pk).update(refunded=refunded, version=F("version") + 1,
                                                 updated_at=timezone.now())


def order_refund_settle(*, tenant_id: uuid.UUID, refund_id: uuid.UUID | str, payment_refund_id: str,
                        tender_refunds: dict[str, str] | None = None) -> OrderRefund:
    """Payment refunded it: mark the refund succeeded and count it on the order, once. A table check's refund
    also counts on each tender it was taken from (`tender_refunds`: refund-tender row id -> payment refund id)."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        refund = OrderRefund.objects.get(pk=refund_id)
        order = Order.objects.select_for_update().get(pk=refund.order_id)
        refund = OrderRefund.objects.get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund
        refund.status = RefundStatus.SUCCEEDED
        refund.payment_refund_id = payment_refund_id
        refund.save(update_fields=["status", "payment_refund_id"])
        for row in refund.tenders.all():
            RefundTender.objects.filter(pk=row.pk).update(
                payment_refund_id=(tender_refunds or {}).get(str(row.pk), row.payment_refund_id))
            OrderPayment.objects.filter(pk=row.tender_id).update(refunded=F("refunded") + row.amount)
        _apply_refund_to_order(order, refund.amount)
        return refund


def order_refund_fail(*, tenant_id: uuid.UUID, refund_id: uuid.UUID | str, failure: str) -> OrderRefund:
    """Payment refused it (or never received it): nothing was refunded; the held units are free again."""
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        refund = OrderRefund.objects.get(pk=refund_id)
        Order.objects.select_for_update().get(pk=refund.order_id)
        refund = OrderRefund.objects.get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund
        for line in refund.lines.all():
            if line.quantity:
                OrderItem.objects.filter(pk=line.item_id).update(refunded_quantity=F("refunded_quantity") - line.quantity)
        refund.status = RefundStatus.FAILED
        refund.failure = failure[:300]
        refund.save(update_fields=["status", "failure"])
        Order.objects.filter(pk=refund.order_id).update(version=F("version") + 1, updated_at=timezone.now())
        return refund


def order_refund_restocked(*, tenant_id: uuid.UUID, refund_id: uuid.UUID | str) -> None:
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        OrderRefund.objects.filter(pk=refund_id).update(restock_done=True)


def order_refund_from_payment(*, tenant_id: uuid.UUID, order_id: str, payment_id: str, payment_refund_id: str,
                              amount: int, reason: str,
                              key_of_payment_refund: Callable[[str], str | None]) -> OrderRefund | None:
    """A refund of an order's payment succeeded (payment.refunded). If it is one pos_core asked for, settle that
    one; otherwise (made on the payment side) record it, split over the lines by amount, with no units. Once per
    payment refund id. Returns None when the payment belongs to no order (a saga compensation)."""
    try:
        order_pk = uuid.UUID(str(order_id))
    except ValueError:
        return None
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        order = Order.objects.select_for_update().filter(pk=order_pk, payment_id=payment_id, service="counter").first()
        if order is None:
            return _check_refund_from_payment(tenant_id=tenant_id, order_pk=order_pk, payment_id=payment_id,
                                              payment_refund_id=payment_refund_id, amount=amount, reason=reason,
                                              key_of_payment_refund=key_of_payment_refund)
        known = OrderRefund.objects.filter(payment_refund_id=payment_refund_id).first()
        if known is not None:
            return known
        for pending in OrderRefund.objects.filter(order=order, status=RefundStatus.PENDING):
            if key_of_payment_refund(refund_payment_key(pending)) == payment_refund_id:
                return order_refund_settle(tenant_id=tenant_id, refund_id=pending.pk,
                                           payment_refund_id=payment_refund_id)
        items = list(order.items.all())
        weights = [max(item.allocated_total, 0) for item in items]
        shares = allocate(Money(amount, order.currency), weights if any(weights) else [1] * len(items))
        refund = OrderRefund.objects.create(
            id=uuid.uuid5(uuid.UUID(str(tenant_id)), f"payment-refund:{payment_refund_id}"), tenant_id=tenant_id,
            order=order, idempotency_key=f"payment-refund:{payment_refund_id}", payment_refund_id=payment_refund_id,
            status=RefundStatus.SUCCEEDED, source="payment", amount=amount, currency=order.currency,
            payment_method=order.payment_method, reason=reason[:300], actor="payment", created_at=timezone.now())
        RefundLine.objects.bulk_create([
            RefundLine(tenant_id=tenant_id, refund=refund, item=item, product_id=item.product_id,
                       category_id=item.category_id, quantity=0, amount=share.amount)
            for item, share in zip(items, shares, strict=True)
        ])
        _apply_refund_to_order(order, amount)
        return refund


def _check_refund_from_payment(*, tenant_id: uuid.UUID, order_pk: uuid.UUID, payment_id: str, payment_refund_id: str,
                               amount: int, reason: str,
                               key_of_payment_refund: Callable[[str], str | None]) -> OrderRefund | None:
    """A refund of one tender of a table check (the tender's order is the check or one of its parts). If it is
    part of a refund the check asked for, that refund settles it (with all its tenders); otherwise it is recorded
    on the check (the sale): what it gave back toward the bill as a refund under the tender's method, split over
    the lines by their share, and beyond that of the tip (tips given back, not a sales refund). Runs in the
    caller's transaction."""
    tender = OrderPayment.objects.select_related("order").filter(
        order_id=order_pk, payment_id=payment_id, status=OrderPaymentStatus.CAPTURED).first()
    if tender is None:
        return None  # a compensated tender (refunded by the check itself) or no order at all
    check = Order.objects.select_for_update().get(pk=tender.order.parent_id or tender.order_id)
    tender = OrderPayment.objects.select_for_update().get(pk=tender.pk)
    known = RefundTender.objects.select_related("refund").filter(payment_refund_id=payment_refund_id).first()
    if known is not None:
        return known.refund
    for row in RefundTender.objects.select_related("refund").filter(tender=tender,
                                                                    refund__status=RefundStatus.PENDING):
        if key_of_payment_refund(f"{refund_payment_key(row.refund)}-{tender.pk}") == payment_refund_id:
            return row.refund  # the check's own refund: settled by it, with every tender it was taken from
    bill = min(amount, max(tender.amount + tender.rounding - tender.refunded, 0))
    tip = amount - bill
    refund = OrderRefund.objects.create(
        id=uuid.uuid5(uuid.UUID(str(tenant_id)), f"payment-refund:{payment_refund_id}"), tenant_id=tenant_id,
        order=check, idempotency_key=f"payment-refund:{payment_refund_id}", payment_refund_id=payment_refund_id,
        status=RefundStatus.SUCCEEDED, source="payment", amount=bill, currency=check.currency,
        payment_method=tender.method, reason=reason[:300], actor="payment", created_at=timezone.now())
    RefundTender.objects.create(tenant_id=tenant_id, refund=refund, tender=tender, method=tender.method, amount=bill,
                                tip=tip, payment_refund_id=payment_refund_id)
    OrderPayment.objects.filter(pk=tender.pk).update(refunded=F("refunded") + bill, tip_refunded=F("tip_refunded") + tip)
    if bill:
        items = [item for item in check.items.all() if item.quantity > 0] or list(check.items.all())
        weights = [max(item.allocated_total or item.line_total - item.comped, 0) for item in items]
        shares = allocate(Money(bill, check.currency), weights if any(weights) else [1] * len(items))
        RefundLine.objects.bulk_create([
            RefundLine(tenant_id=tenant_id, refund=refund, item=item, product_id=item.product_id,
                       category_id=item.category_id, quantity=0, amount=share.amount)
            for item, share in zip(items, shares, strict=True)])
        _apply_refund_to_order(check, bill)
    if tip:
        Order.objects.filter(pk__in={check.pk, tender.order_id}).update(tips=F("tips") - tip)
    return refund


def refunds_in_flight(*, older_than: timedelta, limit: int = 200) -> list[OrderRefund]:
    """Refunds pending, or succeeded with units still to put back to stock, untouched for `older_than`."""
    cutoff = timezone.now() - older_than
    with all_tenants():
        return list(OrderRefund.objects.filter(
            Q(status=RefundStatus.PENDING) | Q(status=RefundStatus.SUCCEEDED, restocked=True, restock_done=False),
            created_at__lt=cutoff).order_by("created_at")[:limit])


# --- stock cache and low-stock alerts --------------------------------------------------------------

def stock_level_apply(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, level: int, threshold: int,
                      sequence: int) -> bool:
    """Apply a stock level from inventory unless a newer one (higher sequence) was applied already. Updates the
    cache and opens or resolves the low-stock alert. Returns whether it was applied.

    On PostgreSQL one conditional statement decides and applies (the row moves to `sequence` only if it is behind
    it, answering the level it had): no read before it, no savepoint inside the delivery's transaction. The row
    it changed stays locked until commit, so caches are still written in sequence order."""
    with transaction.atomic(using=DB, savepoint=False), tenant_context(tenant_id):
        advanced = _stock_level_advance(tenant_id=tenant_id, product_id=product_id, variant=variant or "",
                                        level=level, threshold=threshold, sequence=sequence)
        if advanced is None:
            return False
        previous_level, previous_threshold = advanced
        stock_cache.put(tenant_id, product_id, variant, level=level, threshold=threshold, sequence=sequence)
        if previous_level is not None and previous_level >= previous_threshold and level >= threshold:
            return True  # above the threshold before and after: no alert is open (the last apply closed it)
        _alert_update(tenant_id=tenant_id, product_id=product_id, variant=variant, level=level, threshold=threshold,
                      previous_level=previous_level)
    return True


def _stock_level_advance(*, tenant_id: uuid.UUID, product_id: str, variant: str, level: int, threshold: int,
                         sequence: int) -> tuple[int | None, int] | None:
    """Move the durable level to `sequence` if it is behind it (creating it at first). Returns the level and
    threshold it had ((None, 0) when new), or None when it was at `sequence` or newer already."""
    now = timezone.now()
    connection = connections[DB]
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(StockLevel._meta.db_table)
        for _attempt in range(2):
            with connection.cursor() as cursor:
                # The subquery locks the row (waiting for a concurrent apply, then reading what it committed);
                # the outer WHERE re-checks the sequence on that version.
                cursor.execute(
                    f"UPDATE {table} AS s SET level = %s, threshold = %s, sequence = %s, updated_at = %s "  # noqa: S608 - the model's table
                    f"FROM (SELECT id, level, threshold FROM {table} WHERE tenant_id = %s AND product_id = %s "
                    "AND variant = %s FOR UPDATE) AS old WHERE s.id = old.id AND s.sequence < %s "
                    "RETURNING old.level, old.threshold",
                    [level, threshold, sequence, now, tenant_id, product_id, variant, sequence])
                row = cursor.fetchone()
                if row is not None:
                    return row[0], row[1]
                cursor.execute(
                    f"INSERT INTO {table} (id, tenant_id, product_id, variant, level, threshold, sequence, updated_at) "  # noqa: S608
                    "VALUES (%s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (tenant_id, product_id, variant) DO NOTHING "
                    "RETURNING 1", [uuid.uuid4(), tenant_id, product_id, variant, level, threshold, sequence, now])
                if cursor.fetchone() is not None:
                    return None, 0
            # The row exists: newer than this event, or created by a concurrent apply just now (try once more).
        return None
    # SQLite serialises writers: read, then write.
    row = StockLevel.objects.select_for_update().filter(product_id=product_id, variant=variant).first()
    if row is None:
        StockLevel.objects.create(tenant_id=tenant_id, product_id=product_id, variant=variant, level=level,
                                  threshold=threshold, sequence=sequence)
        return None, 0
    if row.sequence >= sequence:
        return None
    StockLevel.objects.filter(pk=row.pk).update(level=level, threshold=threshold, sequence=sequence, updated_at=now)
    return row.level, row.threshold


def _alert_update(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, level: int, threshold: int,
                  previous_level: int | None) -> None:
    now = timezone.now()
    open_alert = LowStockAlert.objects.filter(product_id=product_id, variant=variant or "",
                                              status=AlertStatus.OPEN).first()
    if level < threshold:
        if open_alert is not None:
            LowStockAlert.objects.filter(pk=open_alert.pk).update(current_level=level, threshold=threshold)
            return
        # Open on the way down (or on the first level we hear of); a manager's close holds until restocked.
        if previous_level is None or previous_level >= threshold:
            try:
                with transaction.atomic(using=DB):
                    LowStockAlert.objects.create(tenant_id=tenant_id, product_id=product_id, variant=variant or "",
                                                 level=level, current_level=level, threshold=threshold, opened_at=now)
            except IntegrityError:
                pass  # another delivery opened it: still one open alert
    elif open_alert is not None:
        LowStockAlert.objects.filter(pk=open_alert.pk).update(
            status=AlertStatus.CLOSED, current_level=level, closed_at=now, resolution="restocked", closed_by="system")


def alert_close(*, tenant_id: uuid.UUID, alert_id: uuid.UUID | str, actor: str) -> LowStockAlert:
    """A manager closes an alert (acknowledged). Closing a closed alert changes nothing."""
    from .errors import AlertNotFound

    try:
        alert_id = uuid.UUID(str(alert_id))
    except ValueError:
        raise AlertNotFound(f"No alert {alert_id}.") from None
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        alert = LowStockAlert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            raise AlertNotFound(f"No alert {alert_id}.")
        if alert.status == AlertStatus.OPEN:
            alert.status = AlertStatus.CLOSED
            alert.closed_at = timezone.now()
            alert.closed_by = actor[:100]
            alert.resolution = "closed by manager"
            alert.save(update_fields=["status", "closed_at", "closed_by", "resolution"])
        return alert




# --- historical imports (legacy splits) ------------------------------------------------------------------------
# Orders placed long ago are recorded with their snapshots as they were sold, without running the saga (nothing
# is reserved or charged): one transaction and a constant number of statements per batch, idempotent by the
# caller's key (the order id is derived from it).

IMPORT_NAMESPACE = uuid.UUID("0b6e2f5c-8f1d-4a57-b7c3-2c9d4e6a1f08")
IMPORT_STATUSES = (OrderStatus.COMPLETED, OrderStatus.CANCELLED)


def imported_order_id(tenant_id: uuid.UUID, key: str) -> uuid.UUID:
    """The id an order imported under `key` has: stable, so a repeated import finds it."""
    return uuid.uuid5(IMPORT_NAMESPACE, f"{tenant_id}:order:{key}")


def _is_amount(value: Any, *, positive: bool = False) -> bool:
    return is_integer(value) and (value > 0 if positive else value >= 0) and value <= 10**15


def _order_import_problems(orders: list, currency: str) -> list[dict[str, str]]:
    from datetime import datetime

    errors: list[dict[str, str]] = []

    def bad(at: str, message: str) -> None:
        errors.append({"field": at, "message": message})

    def aware(value: Any) -> bool:
        return isinstance(value, datetime) and value.tzinfo is not None

    seen: set[str] = set()
    for index, order in enumerate(orders):
        at = f"orders[{index}]"
        if not isinstance(order, dict):
            bad(at, "Each order is an object.")
            continue
        key = order.get("key")
        if not isinstance(key, str) or not key.strip() or len(key) > 255:
            bad(f"{at}.key", "A key of 1 to 255 characters.")
        elif key in seen:
            bad(f"{at}.key", f"Duplicate key {key!r} in the batch.")
        seen.add(key if isinstance(key, str) else "")
        if not isinstance(order.get("number"), str) or not 0 < len(order["number"]) <= 20:
            bad(f"{at}.number", "1 to 20 characters.")
        if order.get("currency") != currency:
            bad(f"{at}.currency", f"The restaurant's currency is {currency}.")
        if order.get("status", OrderStatus.COMPLETED) not in IMPORT_STATUSES:
            bad(f"{at}.status", "completed or cancelled (refunds set the refunded states).")
        if not _is_amount(order.get("total")):
            bad(f"{at}.total", "A whole number of minor units, 0 or more.")
        if not aware(order.get("placed_at")):
            bad(f"{at}.placed_at", "A time with its time zone.")
        if not isinstance(order.get("payment_method", ""), str) or len(order.get("payment_method", "")) > 30:
            bad(f"{at}.payment_method", "At most 30 characters.")
        for l_index, line in enumerate(order.get("lines") or []):
            l_at = f"{at}.lines[{l_index}]"
            if not isinstance(line, dict):
                bad(l_at, "Each line is an object.")
                continue
            if not isinstance(line.get("product_id"), str) or not 0 < len(line["product_id"]) <= 64:
                bad(f"{l_at}.product_id", "1 to 64 characters.")
            if not isinstance(line.get("product_names"), dict) or not line["product_names"]:
                bad(f"{l_at}.product_names", "The names as sold, per locale.")
            quantity = line.get("quantity")
            if not is_integer(quantity) or not 0 < quantity <= 1_000_000:
                bad(f"{l_at}.quantity", "A whole number from 1 to 1000000.")
            if not _is_amount(line.get("unit_price")):
                bad(f"{l_at}.unit_price", "A whole number of minor units, 0 or more.")
            if not isinstance(line.get("flags", []), list):
                bad(f"{l_at}.flags", "A list of text.")
        refunded = 0
        for r_index, refund in enumerate(order.get("refunds") or []):
            r_at = f"{at}.refunds[{r_index}]"
            if not isinstance(refund, dict):
                bad(r_at, "Each refund is an object.")
                continue
            if not isinstance(refund.get("key"), str) or not 0 < len(refund["key"]) <= 255:
                bad(f"{r_at}.key", "A key of 1 to 255 characters.")
            if not _is_amount(refund.get("amount"), positive=True):
                bad(f"{r_at}.amount", "A whole number of minor units above 0.")
            else:
                refunded += refund["amount"]
            if not aware(refund.get("created_at")):
                bad(f"{r_at}.created_at", "A time with its time zone.")
        if _is_amount(order.get("total")) and refunded > order["total"]:
            bad(f"{at}.refunds", f"Refunds ({refunded}) exceed the order total ({order['total']}).")
    return errors


def orders_import(*, tenant_id: uuid.UUID, orders: list[dict[str, Any]], currency: str, locales: list[str],
                  source: str) -> tuple[dict[str, str], list[str], list[str]]:
    from pos.contracts.pos_core import OrderHistoryImported
    from pos.events import publish_many

    from .errors import InvalidImport

    orders = list(orders)
    errors = _order_import_problems(orders, currency)
    if errors:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise InvalidImport(f"The order batch is invalid: {fields}.", errors=errors)
    ids = {order["key"]: imported_order_id(tenant_id, order["key"]) for order in orders}
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        existing = set(Order.objects.filter(pk__in=ids.values()).values_list("pk", flat=True))
        refund_keys = [r["key"] for order in orders if ids[order["key"]] not in existing
                       for r in order.get("refunds") or []]
        used = sorted(OrderRefund.objects.filter(idempotency_key__in=refund_keys)
                      .values_list("idempotency_key", flat=True))
        if used or len(set(refund_keys)) != len(refund_keys):
            raise InvalidImport("Refund keys must be unique and new: " + (", ".join(used[:10]) or "repeated"),
                                errors=[{"field": "refunds", "message": f"Key {key!r} is taken."} for key in used])
        rows, items, refunds, refund_lines = [], [], [], []
        for order in orders:
            oid = ids[order["key"]]
            if oid in existing:
                continue
            total = order["total"]
            lines = order.get("lines") or []
            line_totals = [line["unit_price"] * line["quantity"] for line in lines]
            shares = allocate(Money(total, currency), line_totals)
            refunded = sum(r["amount"] for r in order.get("refunds") or [])
            status = order.get("status", OrderStatus.COMPLETED)
            if refunded and status == OrderStatus.COMPLETED:
                status = OrderStatus.REFUNDED if refunded >= total else OrderStatus.PARTIALLY_REFUNDED
            placed_at = order["placed_at"]
            row = Order(
                id=oid, tenant_id=tenant_id, number=order["number"], saga_id=uuid.uuid5(IMPORT_NAMESPACE, f"saga:{oid}"),
                idempotency_key=order["key"], status=status, table_code=str(order.get("table_code") or "")[:64],
                note=str(order.get("note") or "")[:500], terminal_id="", currency=currency, subtotal=sum(line_totals),
                service_charge=0, service_charge_rate=Decimal("0"), tax=0, tax_rate=Decimal("0"), tax_inclusive=True,
                total=total, rounding=0, grand_total=total, payment_id=str(order.get("payment_id") or "")[:64],
                payment_method=order.get("payment_method") or "", refunded=refunded, locales=list(locales),
                placed_at=placed_at, completed_at=placed_at if status != OrderStatus.CANCELLED else None)
            rows.append(row)
            order_items = []
            for position, (line, line_total, share) in enumerate(zip(lines, line_totals, shares, strict=True)):
                snapshot = dict(line.get("snapshot") or {})
                snapshot["flags"] = [str(flag) for flag in line.get("flags") or []]
                item = OrderItem(
                    id=uuid.uuid5(IMPORT_NAMESPACE, f"item:{oid}:{position}"), tenant_id=tenant_id, order=row,
                    position=position, product_id=line["product_id"], variant=line.get("variant") or "",
                    product_names=line["product_names"], variant_names=line.get("variant_names") or {},
                    category_id=line.get("category_id") or "", category_names=line.get("category_names") or {},
                    options=[], currency=currency, unit_price=line["unit_price"], options_total=0,
                    quantity=line["quantity"], line_total=line_total, allocated_total=share.amount,
                    product_version=0, snapshot=snapshot)
                order_items.append(item)
            items.extend(order_items)
            for refund in order.get("refunds") or []:
                rid = uuid.uuid5(IMPORT_NAMESPACE, f"refund:{oid}:{refund['key']}")
                record = OrderRefund(
                    id=rid, tenant_id=tenant_id, order=row, idempotency_key=refund["key"],
                    payment_refund_id=str(refund.get("payment_refund_id") or "")[:64], amount=refund["amount"],
                    currency=currency, payment_method=row.payment_method,
                    reason=str(refund.get("reason") or "")[:300], restocked=False,
                    actor=str(refund.get("actor") or "")[:100], created_at=refund["created_at"])
                refunds.append(record)
                if order_items:
                    parts = allocate(Money(refund["amount"], currency), [max(i.allocated_total, 0) for i in order_items])
                    refund_lines.extend(
                        RefundLine(id=uuid.uuid5(IMPORT_NAMESPACE, f"refund-line:{rid}:{i.position}"),
                                   tenant_id=tenant_id, refund=record, item=i, product_id=i.product_id,
                                   category_id=i.category_id, quantity=0, amount=part.amount)
                        for i, part in zip(order_items, parts, strict=True))
        copy_insert(Order, rows, using=DB)
        copy_insert(OrderItem, items, using=DB)
        copy_insert(OrderRefund, refunds, using=DB)
        copy_insert(RefundLine, refund_lines, using=DB)
        if rows:
            publish_many([OrderHistoryImported(orders=len(rows), items=len(items), refunds=len(refunds),
                                               total=sum(r.grand_total for r in rows), currency=currency,
                                               source=source[:100])], tenant_id=tenant_id, using=DB)
    keys = [order["key"] for order in orders]
    return ({key: str(ids[key]) for key in keys}, [k for k in keys if ids[k] not in existing],
            [k for k in keys if ids[k] in existing])


def imported_orders_by_day(*, tenant_id: uuid.UUID, key_prefix: str, tz: str) -> list[dict[str, Any]]:
    import zoneinfo

    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    zone = zoneinfo.ZoneInfo(tz)
    days: dict = {}
    refresh_statistics([Order, OrderItem, OrderRefund], using=DB)
    with tenant_context(tenant_id):
        orders = Order.objects.filter(idempotency_key__startswith=key_prefix)
        for row in (orders.annotate(day=TruncDate("placed_at", tzinfo=zone)).values("day")
                    .annotate(n=Count("id"), total=Sum("grand_total"))):
            days.setdefault(row["day"], {"orders": 0, "items": 0, "total": 0, "refunds": 0, "refunded": 0}).update(
                orders=row["n"], total=row["total"] or 0)
        for row in (OrderItem.objects.filter(order__idempotency_key__startswith=key_prefix)
                    .annotate(day=TruncDate("order__placed_at", tzinfo=zone)).values("day").annotate(n=Count("id"))):
            days.setdefault(row["day"], {"orders": 0, "items": 0, "total": 0, "refunds": 0, "refunded": 0}).update(
                items=row["n"])
        for row in (OrderRefund.objects.filter(order__idempotency_key__startswith=key_prefix)
                    .annotate(day=TruncDate("created_at", tzinfo=zone)).values("day")
                    .annotate(n=Count("id"), total=Sum("amount"))):
            days.setdefault(row["day"], {"orders": 0, "items": 0, "total": 0, "refunds": 0, "refunded": 0}).update(
                refunds=row["n"], refunded=row["total"] or 0)
    return [{"day": day.isoformat(), **values} for day, values in sorted(days.items())]
