"""The order-placement saga as a table: each step, the call that does it and the call that undoes it.

    step       action (forward)                            compensation (reverse order)
    ---------  ------------------------------------------  ----------------------------------------------------
    reserved   inventory.sell_stock      key saga-<id>     inventory.cancel_reservation: the sold stock returned
                                                           (released if an older saga's reservation only held
                                                           it; found by key)
    charged    payment.charge            key saga-<id>-charge
                                                           payment.refund key saga-<id>-refund of what was
                                                           captured (found by key; a pending charge is settled
                                                           by lookup first, never charged again)
    committed  inventory.commit_reservation, only for a reservation that holds stock (one a saga started before
               sell_stock made); a sold one is already committed  (undone by cancel_reservation above)
    recorded   order + pos_core.order_placed, one pos_core transaction: the point of no return

The stock is taken as sold before the charge, in one inventory transaction, guarded against overselling like a
hold: a placement is charged only for stock it has, and needs no second inventory call once paid. An order that
is not completed gives it back whole (`returned`, with `return` rows in inventory's ledger).

Every effect is found again by its key (`payment.find_payment`, `payment.find_refund`,
`inventory.find_reservation`), so compensation never trusts memory: a crash or a lost connection anywhere, also
during compensation, is finished by running it again. The saga row is read back from the database before any
decision and written twice on the way forward: at its start (the intent, before any call) and with the order.
What each step did in between is held by the module that did it, under the saga's key (the reservation, the
payment, the reservation's status), so the saga only notes it and writes it with its next write: the order, or
the failure and its compensation. A crash in between leaves the saga at its start, and a retry or recovery asks
the other modules by key: forward once a charge was attempted (every step answers again by its key: the same
reservation, the same payment, never a second charge), otherwise by compensation."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from modules.inventory import api as inventory
from modules.payment import api as payment
from pos.money import Money

from .. import services
from ..errors import InvalidOrder, OrderExpired, OrderPaymentDeclined, PaymentUnavailable, StockChanged
from ..models import Order, OrderSaga, SagaStep


class CompensationBlocked(Exception):
    """What was done cannot be undone yet (the payment's or the refund's outcome is unknown, or the provider
    refused the refund): the saga stays compensating and is tried again."""


@dataclasses.dataclass(frozen=True)
class Undone:
    """What one compensation found and did, for the saga's log and the terminal's answer."""

    money: str = ""  # "not_charged" | "refunded" (only from the payment step)
    amount: int = 0
    detail: str = ""


@dataclasses.dataclass(frozen=True)
class Step:
    reached: str  # the SagaStep saved when the action succeeded
    action: Callable[[OrderSaga], Order | None]  # recording answers the order
    compensation: Callable[[OrderSaga], Undone] | None


def reservation_key(saga: OrderSaga) -> str:
    return f"saga-{saga.id}"


def charge_key(saga: OrderSaga) -> str:
    return f"saga-{saga.id}-charge"


def refund_key(saga: OrderSaga) -> str:
    return f"saga-{saga.id}-refund"


def _stock_lines(request: dict) -> list:
    quantities: dict[tuple[str, str | None], int] = {}
    for line in request["lines"]:
        item = (line["product_id"], line["variant"])
        quantities[item] = quantities.get(item, 0) + line["quantity"]
    return [inventory.StockLine(product_id=p, variant=v, quantity=q) for (p, v), q in quantities.items()]


def _charge_call(saga: OrderSaga):
    request = saga.request
    currency = request["currency"]
    tendered = request["payment"].get("tendered")
    return payment.charge(tenant_id=saga.tenant_id, amount=Money(request["totals"]["total"], currency),
                          method=request["payment"]["method"], idempotency_key=charge_key(saga),
                          tendered=Money(tendered, currency) if tendered is not None else None,
                          reference=str(saga.order_id), terminal_id=request.get("terminal_id") or "")


# --- actions ---------------------------------------------------------------------------------------------------

def reserve_stock(saga: OrderSaga) -> None:
    try:
        info = inventory.sell_stock(tenant_id=saga.tenant_id, lines=_stock_lines(saga.request),
                                    key=reservation_key(saga))
    except inventory.InsufficientStock as exc:
        raise StockChanged(lines=[{key: line.get(key) for key in ("product_id", "variant", "requested", "available")}
                                  for line in exc.extra.get("lines", [])]) from exc
    except (inventory.ProductNotFound, inventory.InvalidQuantity, inventory.VariantRequired) as exc:
        raise InvalidOrder(exc.detail, errors=[{"field": "items", "message": exc.detail,
                                                "code": "unknown_product"}]) from exc
    # Inventory holds the reservation under the saga's key: noted, written with the saga's next write.
    sold = info.status == "committed"
    services.saga_note(saga=saga, action="reserve", step=SagaStep.RESERVED, current="charge",
                       reservation_id=info.id, reservation_committed=sold,
                       detail=f"reservation {info.id}" + (" (stock sold)" if sold else ""))
    # Inventory's answer in this call, for the commit step: what to commit, and whether anything is left to.
    saga.reservation_id, saga.reservation_committed = info.id, sold


def charge_payment(saga: OrderSaga) -> None:
    try:
        info = _charge_call(saga)
    except payment.PaymentDeclined as exc:  # also PaymentFailed: nothing was taken
        services.saga_save(saga=saga, action="charge", outcome="failed", payment_id=exc.extra.get("payment_id") or "",
                           payment={"status": "declined", "captured": 0}, detail=f"declined: {exc.detail}")
        raise OrderPaymentDeclined(exc.detail, payment_id=exc.extra.get("payment_id")) from exc
    except payment.PaymentAmbiguous as exc:
        services.saga_save(saga=saga, action="charge", outcome="failed", payment_id=exc.extra.get("payment_id") or "",
                           detail=f"outcome unknown: {exc.detail}")
        raise PaymentUnavailable("The payment provider did not answer clearly. Retry with the same Idempotency-Key; "
                                 "the order will not be charged twice.", saga_id=str(saga.id)) from exc
    except (payment.MethodNotAccepted, payment.InvalidAmount, payment.InsufficientTender,
            payment.IdempotencyConflict) as exc:
        raise InvalidOrder(exc.detail, errors=[{"field": "payment", "message": exc.detail, "code": exc.type}]) from exc
    # Payment holds the capture under the saga's charge key: noted, written with the order.
    services.saga_note(saga=saga, action="charge", step=SagaStep.CHARGED, current="commit", payment_id=info.id,
                       payment={"captured": info.captured.amount, "rounding_adjustment": info.rounding_adjustment.amount,
                                "tendered": info.tendered.amount if info.tendered is not None else None,
                                "change_due": info.change_due.amount if info.change_due is not None else None,
                                "status": info.status},
                       detail=f"payment {info.id} captured {info.captured}")


def commit_reservation(saga: OrderSaga) -> None:
    if saga.reservation_committed:
        return  # sold when it was made: nothing is left to commit
    try:
        inventory.commit_reservation(tenant_id=saga.tenant_id, reservation_id=saga.reservation_id)
    except inventory.ReservationNotActive as exc:
        raise OrderExpired("The stock held for this order was released before it was finished.") from exc
    # Inventory holds the commit (the reservation's status, found by key): written with the order.
    services.saga_note(saga=saga, action="commit", reservation_committed=True,
                       detail=f"reservation {saga.reservation_id} committed")


def record_order(saga: OrderSaga) -> Order:
    return services.order_record(saga=saga)


# --- compensations (each finds what was done by its key) --------------------------------------------------------

def refund_payment(saga: OrderSaga) -> Undone:
    info = payment.find_payment(tenant_id=saga.tenant_id, idempotency_key=charge_key(saga))
    if info is not None and info.status == "pending":
        try:  # the same key settles it by lookup with the provider; it never charges twice
            info = _charge_call(saga)
        except payment.PaymentDeclined:
            info = payment.find_payment(tenant_id=saga.tenant_id, idempotency_key=charge_key(saga))
        except payment.PaymentAmbiguous as exc:
            raise CompensationBlocked(f"the payment's outcome is not known yet ({exc.detail})") from exc
    if info is None or info.status in ("pending", "declined", "failed") or info.captured.amount == 0:
        services.saga_save(saga=saga, action="refund", step=SagaStep.REFUNDED, current="release",
                           payment_id=info.id if info else "", detail="nothing was charged")
        return Undone(money="not_charged", detail="nothing was charged")
    refund = payment.find_refund(tenant_id=saga.tenant_id, idempotency_key=refund_key(saga))
    amount = refund.amount.amount if refund is not None else info.captured.amount - info.refunded.amount
    if amount > 0 and (refund is None or refund.status == "pending"):
        try:
            refund = payment.refund(tenant_id=saga.tenant_id, payment_id=info.id,
                                    amount=Money(amount, info.captured.currency), idempotency_key=refund_key(saga),
                                    reason="order not completed", actor="pos_core.saga",
                                    terminal_id=saga.request.get("terminal_id") or "")
        except payment.PaymentAmbiguous as exc:
            raise CompensationBlocked(f"the refund of {Money(amount, info.captured.currency)} is pending") from exc
        except (payment.RefundFailed, payment.OverRefund, payment.NotRefundable) as exc:
            raise CompensationBlocked(f"the refund was refused: {exc.detail}") from exc
    if refund is not None and refund.status == "failed":
        raise CompensationBlocked(f"the refund {refund.id} failed at the provider; an operator must refund it")
    services.saga_save(saga=saga, action="refund", step=SagaStep.REFUNDED, current="release", payment_id=info.id,
                       payment={**saga.payment, "captured": info.captured.amount, "refunded": info.captured.amount},
                       detail=f"refunded {Money(info.captured.amount, info.captured.currency)} of payment {info.id}")
    return Undone(money="refunded", amount=info.captured.amount, detail=f"payment {info.id} refunded")


def cancel_reservation(saga: OrderSaga) -> Undone:
    info = inventory.find_reservation(tenant_id=saga.tenant_id, key=reservation_key(saga))
    if info is None:
        services.saga_save(saga=saga, action="release", step=SagaStep.RELEASED, current="", detail="nothing reserved")
        return Undone(detail="nothing reserved")
    done = inventory.cancel_reservation(tenant_id=saga.tenant_id, reservation_id=info.id)
    detail = {"returned": "committed stock returned"}.get(done.status, f"reservation {done.status}")
    services.saga_save(saga=saga, action="release", step=SagaStep.RELEASED, current="", reservation_id=info.id,
                       detail=f"reservation {info.id}: {detail}")
    return Undone(detail=detail)


STEPS: tuple[Step, ...] = (
    Step(SagaStep.RESERVED, reserve_stock, cancel_reservation),
    Step(SagaStep.CHARGED, charge_payment, refund_payment),
    Step(SagaStep.COMMITTED, commit_reservation, None),  # cancel_reservation returns committed stock
    Step(SagaStep.RECORDED, record_order, None),  # the point of no return
)

FORWARD_ORDER = [SagaStep.STARTED, *(step.reached for step in STEPS)]


def remaining_steps(saga: OrderSaga) -> list[Step]:
    """The steps after the last one saved (compensation steps saved as `step` mean none are left)."""
    if saga.step not in FORWARD_ORDER:
        return []
    done = FORWARD_ORDER.index(saga.step)
    return list(STEPS[done:])


def compensate_all(saga: OrderSaga) -> list[Undone]:
    """Every compensation in reverse order. Each finds by key what there is to undo (maybe nothing)."""
    return [step.compensation(saga) for step in reversed(STEPS) if step.compensation is not None]

