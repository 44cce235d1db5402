"""Table service: the steps that call other modules, each persisted before and after the call.

    open check (pos_core) -> rounds: record round -> reserve (inventory, key round-<id>) -> items + tickets
    void: record void -> reduce the round's reservation (inventory, key void-<id>; made food written off)
         -> quantity off the item + void ticket
    payment: hold the amount on the check -> charge (payment, key order-<order>-pay-<id>)
         -> paid (or released when declined; refunded, key ...-refund, when it cannot be kept)
    paid in full: commit every round's reservation (inventory) -> complete the check (and a split parent
         once all its parts are paid)

The durable rows (round, void, payment, the check's paid/pending amounts) are the whole truth: a retry with
the same Idempotency-Key, or `recover`, re-asks the other module with the same key (which answers what it did
for that key, never doing it twice) and finishes the step."""

from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any, TypeVar

from django.conf import settings
from django.db import DatabaseError

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.restaurant import api as restaurant
from pos.db import drop_broken_connections
from pos.errors import DomainError
from pos.logging import log_context
from pos.money import Money
from pos.tenancy import tenant_context

from .. import selectors
from ..errors import (
    AdjustmentRejected,
    CheckOutcomeUnknown,
    InvalidOrder,
    ManagerRequired,
    OrderPaymentDeclined,
    PaymentUnavailable,
    SagaFailed,
    StockChanged,
)
from ..models import (
    AdjustmentKind,
    Order,
    OrderAdjustment,
    OrderPayment,
    OrderPaymentStatus,
    OrderRound,
    RoundStatus,
)
from ..order_lines import price_lines, stock_lines
from . import store

logger = logging.getLogger("pos_core.table_service")
T = TypeVar("T")


def _interruptible(flow: Callable[..., T]) -> Callable[..., T]:
    """A lost database connection (ours or a module's) mid-step is 503 `check-outcome-unknown`, never a 500: each
    step was saved before its call to another module, and that module answers by key, so a retry with the same
    Idempotency-Key, or recovery, finishes it once."""

    @functools.wraps(flow)
    def run(*args: Any, **kwargs: Any) -> T:
        try:
            return flow(*args, **kwargs)
        except DatabaseError as exc:
            logger.warning("table-service step interrupted by a database error",
                           extra={"flow": flow.__name__, "error": str(exc)[:300]})
            drop_broken_connections()
            raise CheckOutcomeUnknown("A database connection was lost; the outcome is not known yet. Retry with the "
                                      "same Idempotency-Key: nothing is done twice.") from exc

    return run



def _reservation_ttl() -> int:
    return settings.POS_TABLE_RESERVATION_TTL_SECONDS


def _problem(exc: DomainError) -> dict[str, Any]:
    return {"status": exc.status, "type": exc.type, "title": exc.title, "detail": exc.detail, **exc.extra}


def _order(tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order:
    return selectors.order_get(tenant_id=tenant_id, order_id=order_id)


# --- open ----------------------------------------------------------------------------------------

@_interruptible
def open_check(*, tenant_id: uuid.UUID, idempotency_key: str, data: Any, terminal_id: str = "") -> Order:
    """Open a check on a table (`service: "table"`, a `table_id`, no payment: the shape `OrderIn` checked);
    `items`, if any, are its first round. The same key returns the same check. Raises InvalidOrder (400: unknown
    table, products, variants or options), StockChanged (409)."""
    table_id, note, items = data["table_id"], data.get("note") or "", data.get("items")
    tenant = accounts.get_tenant(tenant_id)
    try:
        table = restaurant.get_table(tenant_id=tenant_id, table_id=table_id)
    except restaurant.TableNotFound:
        raise InvalidOrder("Unknown table.", errors=[{"field": "table_id", "message": f"No table {table_id!r}.",
                                                      "code": "unknown_table"}]) from None
    lines = _price(tenant_id, tenant.currency, items) if items else None
    order, _ = store.check_open(
        tenant_id=tenant_id, idempotency_key=idempotency_key, table_id=table.id, table_code=table.code, note=note,
        terminal_id=terminal_id, currency=tenant.currency, locales=list(tenant.locales),
        policy={"tax_rate": str(tenant.tax_rate), "tax_inclusive": tenant.tax_inclusive,
                "service_charge_rate": str(tenant.service_charge_rate)})
    if lines:
        _send_round(tenant_id=tenant_id, order_id=order.id, idempotency_key=f"{idempotency_key}|round-1",
                    expected_version=None, lines=lines, terminal_id=terminal_id)
    return _order(tenant_id, order.id)


# --- rounds --------------------------------------------------------------------------------------

def _price(tenant_id: uuid.UUID, currency: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A round's lines, checked and priced by the same rules as a counter order's (order_lines)."""
    return price_lines(tenant_id=tenant_id, currency=currency, items=items, what="round")[0]


@_interruptible
def add_round(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, data: dict[str, Any],
              terminal_id: str = "") -> Order:
    """Send a round (`items` and `version` in the shape `TableRoundIn` checked): priced now from the catalog,
    stock reserved, tickets for each station. A stale `version` is 409 (nothing sent). Raises InvalidOrder (400),
    StockChanged (409), StaleOrder (409), CheckNotOpen (409)."""
    existing = store.round_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
    if existing is not None:
        return _finish_round(existing)
    _order(tenant_id, order_id)  # 404 before anything else
    tenant = accounts.get_tenant(tenant_id)
    lines = _price(tenant_id, tenant.currency, data["items"])
    return _send_round(tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key,
                       expected_version=data.get("version"), lines=lines, terminal_id=terminal_id)


def _send_round(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str, idempotency_key: str,
                expected_version: int | None, lines: list[dict[str, Any]], terminal_id: str) -> Order:
    round_ = store.round_start(tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key,
                               expected_version=expected_version, lines=lines, terminal_id=terminal_id)
    return _finish_round(round_)


def _finish_round(round_: OrderRound) -> Order:
    if round_.status == RoundStatus.REFUSED:
        raise SagaFailed(round_.error)
    if round_.status == RoundStatus.PENDING:
        with log_context(round_id=round_.id):
            store.round_attempt(round_=round_)
            try:
                info = inventory.reserve_stock(tenant_id=round_.tenant_id, lines=stock_lines(round_.lines),
                                               key=f"round-{round_.id}", ttl_seconds=_reservation_ttl())
            except inventory.InsufficientStock as exc:
                refused = StockChanged(lines=[{key: line.get(key) for key in ("product_id", "variant", "requested",
                                                                               "available")}
                                              for line in exc.extra.get("lines", [])])
                store.round_refused(round_=round_, problem=_problem(refused))
                raise refused from exc
            except (inventory.ProductNotFound, inventory.InvalidQuantity, inventory.VariantRequired) as exc:
                refused = InvalidOrder(exc.detail, errors=[{"field": "items", "message": exc.detail,
                                                            "code": "unknown_product"}])
                store.round_refused(round_=round_, problem=_problem(refused))
                raise refused from exc
            store.round_record(round_=round_, reservation_id=info.id)
            logger.info("round sent", extra={"order_id": str(round_.order_id), "round": round_.number})
    return _order(round_.tenant_id, round_.order_id)


# --- voids ---------------------------------------------------------------------------------------

def _needs_manager(rule: bool, role: str, what: str) -> None:
    if rule and role != "manager":
        raise ManagerRequired(f"In this restaurant {what} need a manager's terminal or a manager's approval "
                              "(X-Manager-Approval).")


@_interruptible
def void_item(*, tenant_id: uuid.UUID, order_id: str, item_id: str, idempotency_key: str, data: dict[str, Any],
              actor: str, role: str) -> Order:
    """Void (part of) an item before payment: the stock goes back to what can be sold, or, when the food was
    made, is written off; a void ticket goes to the item's station. Raises OrderItemNotFound (404),
    AdjustmentRejected (422), ManagerRequired (403), CheckNotOpen/StaleOrder (409)."""
    existing = store.adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
    if existing is None:
        _needs_manager(store.settings_for(tenant_id=tenant_id).voids_need_manager, role, "voids")
        existing = store.void_start(tenant_id=tenant_id, order_id=order_id, item_id=item_id,
                                    idempotency_key=idempotency_key, quantity=data.get("quantity"),
                                    made=bool(data.get("made")), reason=data["reason"], actor=actor, actor_role=role,
                                    expected_version=data.get("version"))
    return _finish_void(existing)


def _finish_void(adjustment: OrderAdjustment) -> Order:
    if adjustment.status == OrderAdjustment.Status.FAILED:
        raise SagaFailed(adjustment.error)
    if adjustment.status == OrderAdjustment.Status.PENDING:
        item = adjustment.item
        round_ = item.round
        if round_ is not None and round_.reservation_id:
            try:
                inventory.reduce_reservation(
                    tenant_id=adjustment.tenant_id, reservation_id=round_.reservation_id, product_id=item.product_id,
                    variant=item.variant or None, quantity=adjustment.quantity, key=f"void-{adjustment.id}",
                    write_off=bool(adjustment.made), reason=f"void: {adjustment.reason}"[:200],
                    actor=adjustment.actor)
            except (inventory.ReservationNotActive, inventory.ReservationNotFound, inventory.InvalidQuantity) as exc:
                refused = AdjustmentRejected(f"The stock of this item cannot be taken back: {exc.detail}")
                store.void_failed(adjustment=adjustment, problem=_problem(refused))
                raise refused from exc
        store.void_record(adjustment=adjustment)
        if store.check_cancel_if_empty(tenant_id=adjustment.tenant_id, order_id=adjustment.order_id) is not None:
            release_rounds(tenant_id=adjustment.tenant_id, order_id=adjustment.order_id)
    return _order(adjustment.tenant_id, adjustment.order_id)


# --- cancelling an abandoned check ---------------------------------------------------------------

@_interruptible
def cancel_check(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order:
    """Cancel a check nobody will pay (guests gone, opened by mistake): it leaves its tab, and the stock its
    rounds hold goes back to what can be sold. Refuses a check with money taken or a payment in flight
    (CheckHasPayments, 409: refund it instead), a round or void in flight (CheckBusy), a check not open.
    A crash between the two steps is finished by `recover` (the cancelled check's rounds are released)."""
    store.check_cancel(tenant_id=tenant_id, order_id=order_id)
    release_rounds(tenant_id=tenant_id, order_id=order_id)
    return _order(tenant_id, order_id)


def release_rounds(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> int:
    """Release what the rounds of a cancelled check still hold (idempotent: a released reservation stays so)."""
    released = 0
    for round_ in store.rounds_to_release(tenant_id=tenant_id, order_id=order_id):
        if round_.reservation_id:
            try:
                inventory.release_reservation(tenant_id=tenant_id, reservation_id=round_.reservation_id)
            except inventory.ReservationNotActive:
                # committed: the stock was sold; taking it back is a refund's decision, not a cancel's
                logger.error("cancelled check's round was committed", extra={"round_id": str(round_.id)})
                continue
            except inventory.ReservationNotFound:
                pass
        store.round_released(round_=round_)
        released += 1
    return released


# --- comps and discounts -------------------------------------------------------------------------

@_interruptible
def comp_item(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, data: dict[str, Any], actor: str,
              role: str) -> Order:
    """Give (part of) an item on the house, with a reason. Raises ManagerRequired (403) where the restaurant
    wants a manager, OrderItemNotFound (404), AdjustmentRejected (422), CheckNotOpen/StaleOrder (409)."""
    if store.adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key) is None:
        _needs_manager(store.settings_for(tenant_id=tenant_id).comps_need_manager, role, "comps")
    adjustment = store.comp_or_discount(
        tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key, kind=AdjustmentKind.COMP,
        item_id=str(data["item_id"]), quantity=data.get("quantity"), amount=None, percent=None,
        reason=data["reason"], actor=actor, actor_role=role, expected_version=data.get("version"))
    _complete_if_paid(tenant_id, adjustment.order_id)
    return _order(tenant_id, adjustment.order_id)


@_interruptible
def discount_check(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, data: dict[str, Any], actor: str,
                   role: str) -> Order:
    """Take an amount or a percent off what is still billed, with a reason. Same errors as comp_item."""
    if store.adjustment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key) is None:
        _needs_manager(store.settings_for(tenant_id=tenant_id).discounts_need_manager, role, "discounts")
    percent = data.get("percent")
    adjustment = store.comp_or_discount(
        tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key, kind=AdjustmentKind.DISCOUNT,
        item_id=None, quantity=None, amount=data.get("amount"),
        percent=Decimal(str(percent)) if percent is not None else None, reason=data["reason"], actor=actor,
        actor_role=role, expected_version=data.get("version"))
    return _order(tenant_id, adjustment.order_id)


# --- split ---------------------------------------------------------------------------------------

@_interruptible
def split_check(*, tenant_id: uuid.UUID, order_id: str, data: dict[str, Any]) -> Order:
    """Split an open, unpaid check into parts that each pay on their own (by items, seats or N equal parts).
    Raises SplitRejected (422), CheckNotOpen/CheckIsSplit/StaleOrder (409)."""
    parts = None
    if data.get("by") == "items":
        parts = [[{"item_id": str(i["item_id"]), "quantity": i.get("quantity")} for i in part["items"]]
                 for part in data.get("parts") or []]
    order = store.check_split(tenant_id=tenant_id, order_id=order_id, by=data["by"], count=data.get("count"),
                              parts=parts, expected_version=data.get("version"))
    return _order(tenant_id, order.id)


# --- payments ------------------------------------------------------------------------------------

@_interruptible
def pay(*, tenant_id: uuid.UUID, order_id: str, idempotency_key: str, data: dict[str, Any],
        terminal_id: str = "") -> OrderPayment:
    """Take one tender toward the check: `amount` (at most what is still due), an optional `tip` (charged with
    it, reported apart) and `tendered` cash. The check completes when paid in full. Raises PaymentExceedsDue
    (409), OrderPaymentDeclined (402, the amount is due again), PaymentUnavailable (503: retry with the same
    key), InvalidOrder (400), CheckNotOpen/CheckIsSplit (409)."""
    existing = store.payment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
    if existing is None:
        tenant = accounts.get_tenant(tenant_id)
        method, amount, tip, tendered = data["method"], data["amount"], data.get("tip") or 0, data.get("tendered")
        errors = []
        if method not in payment.accepted_methods(tenant_id=tenant_id):
            errors.append({"field": "method", "message": f"{method!r} is not accepted here.",
                           "code": "method_not_accepted"})
        if tendered is not None and method != "cash":
            errors.append({"field": "tendered", "message": "Only cash takes a tendered amount.", "code": "invalid"})
        if tendered is not None and tendered < amount + tip:
            errors.append({"field": "tendered", "message": f"At least {amount + tip} must be tendered.",
                           "code": "insufficient_tender"})
        if errors:
            raise InvalidOrder("The payment has invalid fields.", errors=errors)
        _order(tenant_id, order_id)
        if method == "cash" and tenant.require_open_shift_for_cash:
            # refused before anything is held; the charge checks again under the shift's lock
            payment.check_cash_shift(tenant_id=tenant_id, terminal_id=terminal_id)
        existing = store.payment_start(tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key,
                                       method=method, amount=amount, tip=tip, tendered=tendered,
                                       cash_unit=tenant.cash_rounding_unit, terminal_id=terminal_id)
    return _finish_payment(existing)


def _finish_payment(row: OrderPayment) -> OrderPayment:
    if row.status in (OrderPaymentStatus.DECLINED, OrderPaymentStatus.REFUNDED):
        raise SagaFailed(row.error)
    if row.status == OrderPaymentStatus.PENDING:
        with log_context(order_id=row.order_id, payment_key=row.charge_key):
            store.payment_attempt(payment=row)
            currency = row.currency
            try:
                info = payment.charge(tenant_id=row.tenant_id, amount=Money(row.amount + row.tip, currency),
                                      method=row.method, idempotency_key=row.charge_key,
                                      tendered=Money(row.tendered, currency) if row.tendered is not None else None,
                                      reference=str(row.order_id), terminal_id=row.terminal_id)
            except payment.PaymentAmbiguous as exc:
                raise PaymentUnavailable("The payment provider did not answer clearly. Retry with the same "
                                         "Idempotency-Key; the guest will not be charged twice.",
                                         payment_key=row.idempotency_key) from exc
            except payment.PaymentDeclined as exc:  # also PaymentFailed: nothing was taken
                declined = OrderPaymentDeclined(exc.detail, payment_id=exc.extra.get("payment_id"))
                store.payment_released(payment=row, status=OrderPaymentStatus.DECLINED, problem=_problem(declined),
                                       payment_id=exc.extra.get("payment_id") or "")
                raise declined from exc
            except (payment.MethodNotAccepted, payment.InvalidAmount, payment.InsufficientTender,
                    payment.IdempotencyConflict) as exc:
                refused = InvalidOrder(exc.detail, errors=[{"field": "payment", "message": exc.detail,
                                                            "code": exc.type}])
                store.payment_released(payment=row, status=OrderPaymentStatus.DECLINED, problem=_problem(refused))
                raise refused from exc
            except payment.ShiftRequired as exc:  # nothing was written or charged
                store.payment_released(payment=row, status=OrderPaymentStatus.DECLINED, problem=_problem(exc))
                raise
            if info.status not in ("captured", "partially_refunded", "refunded"):
                raise PaymentUnavailable("The payment is not settled yet; retry with the same Idempotency-Key.")
            store.payment_captured(payment=row, payment_id=info.id, captured=info.captured.amount,
                                   rounding=info.rounding_adjustment.amount,
                                   change_due=info.change_due.amount if info.change_due is not None else None)
            logger.info("payment captured", extra={"payment_id": info.id})
    _complete_if_paid(row.tenant_id, row.order_id)
    with tenant_context(row.tenant_id):
        row = OrderPayment.objects.select_related("order").get(pk=row.pk)
    if row.status in (OrderPaymentStatus.DECLINED, OrderPaymentStatus.REFUNDED):
        raise SagaFailed(row.error)  # recovery gave it up meanwhile (and refunds a capture that came late)
    return row


def compensate_payment(*, tenant_id: uuid.UUID, payment_row_id: uuid.UUID | str, reason: str) -> OrderPayment:
    """Give back a payment the check cannot keep (recovery: its outcome was never recorded). Payment is asked by the
    charge's key, never charged: nothing there means nothing was taken (the amount is due again); a capture is
    refunded (key `<charge key>-refund`) and the amount is due again; a charge whose answer is still unknown at the
    provider stays pending until it is known (a later sweep finishes it)."""
    with tenant_context(tenant_id):
        row = OrderPayment.objects.get(pk=payment_row_id)
    if row.status != OrderPaymentStatus.PENDING:
        return row
    info = payment.find_payment(tenant_id=tenant_id, idempotency_key=row.charge_key)
    if info is None or info.status in ("declined", "failed"):
        store.payment_released(payment=row, status=OrderPaymentStatus.DECLINED,
                               problem={"status": 409, "type": "payment-not-taken", "title": "Payment not taken",
                                        "detail": f"Nothing was charged: {reason}."},
                               payment_id=info.id if info is not None else "")
    elif info.status == "pending":
        logger.info("table payment still unknown at the provider", extra={"payment_id": info.id})
        return row
    else:
        left = info.captured - info.refunded
        if left.amount > 0:
            payment.refund(tenant_id=tenant_id, payment_id=info.id, amount=left,
                           idempotency_key=f"{row.charge_key}-refund", reason=reason, terminal_id=row.terminal_id)
        store.payment_released(payment=row, status=OrderPaymentStatus.REFUNDED,
                               problem={"status": 409, "type": "payment-refunded", "title": "Payment refunded",
                                        "detail": f"The payment was refunded: {reason}."}, payment_id=info.id)
    with tenant_context(tenant_id):
        return OrderPayment.objects.get(pk=row.pk)


def refund_late_tender_capture(*, tenant_id: uuid.UUID, order_id: str, payment_id: str) -> str:
    """A charge of a check's tender was captured after the check had given that tender up (its answer came late):
    refund it, once (the tender's refund key). Returns what was done ("" when it is no such tender's)."""
    try:
        order_id = str(uuid.UUID(str(order_id)))
    except ValueError:
        return ""
    with tenant_context(tenant_id):
        rows = [row for row in OrderPayment.objects.filter(order_id=order_id, status__in=[
            OrderPaymentStatus.DECLINED, OrderPaymentStatus.REFUNDED]) if row.payment_id in ("", payment_id)]
    for row in rows:
        info = payment.find_payment(tenant_id=tenant_id, idempotency_key=row.charge_key)
        if info is None or info.id != payment_id:
            continue
        left = info.captured - info.refunded
        if left.amount > 0:
            payment.refund(tenant_id=tenant_id, payment_id=info.id, amount=left,
                           idempotency_key=f"{row.charge_key}-refund", reason="captured after the check gave it up",
                           terminal_id=row.terminal_id)
            logger.warning("late tender capture refunded", extra={"payment_id": payment_id, "order_id": order_id})
            return f"refunded {left}"
        return "nothing left to refund"
    return ""


# --- completion ----------------------------------------------------------------------------------

def _complete_if_paid(tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> None:
    """Paid in full: commit the stock of every round, then complete the check (and its parent once every part of
    a split check is paid). Each commit is idempotent, so a crash in between is finished by running this again."""
    with tenant_context(tenant_id):
        _complete_check(tenant_id, order_id)


def _complete_check(tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> None:
    order = _order(tenant_id, order_id)
    if order.status != "open" or order.service != "table":
        return
    if order.parent_id is None and not order.split_kind and (order.grand_total <= 0 or order.paid < order.grand_total):
        return
    if order.parent_id is not None:
        if order.paid < order.grand_total or order.grand_total <= 0:
            return
        store.order_complete(tenant_id=tenant_id, order_id=order.id)
        _complete_check(tenant_id, order.parent_id)
        return
    if order.split_kind and any(part.status != "completed" for part in order.parts.all()):
        return
    for round_ in order.rounds.filter(status=RoundStatus.SENT, reservation_committed=False):
        try:
            inventory.commit_reservation(tenant_id=tenant_id, reservation_id=round_.reservation_id)
        except inventory.ReservationNotActive:
            # Held longer than POS_TABLE_RESERVATION_TTL_SECONDS and released by expiry: the food was served
            # and paid, so the check completes; the stock count needs an operator (reconcile reports it).
            logger.error("round reservation expired before payment", extra={"round_id": str(round_.id)})
        store.round_committed(round_=round_)
    completed = store.order_complete(tenant_id=tenant_id, order_id=order.id)
    if completed is not None:
        logger.info("check completed", extra={"order_id": str(order.id)})


# --- recovery ------------------------------------------------------------------------------------

def recover(*, older_than: timedelta | None = None) -> dict[str, int]:
    """Finish table-service steps a crash left half done: rounds and voids are driven forward (inventory
    answers by key); a payment whose outcome the till never recorded is compensated (looked up by its key and
    refunded if it was captured: the amount is due again and the guest pays anew); checks paid in full are
    completed; the stock still held by a cancelled check's rounds is released. Also flags checks open longer
    than their restaurant's limit. A terminal's retry with the same Idempotency-Key before then drives a payment
    forward instead. `older_than`: how long a step stays untouched before recovery takes it (default
    POS_SAGA_STUCK_SECONDS, as for sagas)."""
    summary = {"rounds": 0, "voids": 0, "payments": 0, "completed": 0, "released": 0, "still_pending": 0,
               "flagged": store.checks_flag_stale()}
    older_than = older_than if older_than is not None else timedelta(seconds=settings.POS_SAGA_STUCK_SECONDS)
    work = store.stuck_work(older_than=older_than)
    def give_back(row: OrderPayment) -> OrderPayment:
        return compensate_payment(tenant_id=row.tenant_id, payment_row_id=row.pk,
                                  reason="the till never heard how the payment ended")

    for kind, rows, finish in (("rounds", work["rounds"], _finish_round), ("voids", work["voids"], _finish_void),
                               ("payments", work["payments"], give_back)):
        for row in rows:
            with tenant_context(row.tenant_id), log_context(tenant_id=row.tenant_id):
                if kind == "voids":
                    row = store.adjustment_by_key(tenant_id=row.tenant_id, idempotency_key=row.idempotency_key)
                try:
                    finish(row)
                    summary[kind] += 1
                except DomainError:
                    summary[kind] += 1  # refused for good: recorded on the row
                except Exception:
                    logger.exception("table-service recovery failed", extra={"kind": kind, "row": str(row.pk)})
                    drop_broken_connections()
                    summary["still_pending"] += 1
    for order_id, tenant_id in work["paid"]:
        try:
            _complete_if_paid(tenant_id, order_id)
            summary["completed"] += 1
        except Exception:
            logger.exception("completing a paid check failed", extra={"order_id": str(order_id)})
            drop_broken_connections()
            summary["still_pending"] += 1
    for order_id, tenant_id in work["released"]:
        try:
            with tenant_context(tenant_id):
                summary["released"] += release_rounds(tenant_id=tenant_id, order_id=order_id)
        except Exception:
            logger.exception("releasing a cancelled check's stock failed", extra={"order_id": str(order_id)})
            drop_broken_connections()
            summary["still_pending"] += 1
    if any(summary.values()):
        logger.info("table-service recovery", extra=summary)
    return summary
