"""The order-placement saga, orchestrated by pos_core across three module databases. Its steps and their
compensations are the table in `steps.py`; this file drives them.

    validate (nothing started for bad input) -> saga row keyed by (tenant, Idempotency-Key)
    -> the steps in order -> a completed order
    on a definite failure: the compensations in reverse -> a final 4xx saying what happened to the money

The saga's row is the only truth: it is read from the database before every decision, and what another module
did is found again by the saga's keys. A lost connection or a crash leaves the row as it was saved; the terminal
is told the outcome is not known yet (503, retry with the same key) and a retry or `recover_stuck` finishes it:
forward once the charge was attempted, otherwise by compensation. A saga that cannot be compensated yet (the
payment's or refund's outcome is unknown) stays compensating until it can."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError

from modules.inventory import api as inventory
from modules.payment import api as payment
from pos.db import drop_broken_connections
from pos.errors import DomainError
from pos.events import relay
from pos.logging import log_context
from pos.memo import memo_scope
from pos.money import Money
from pos.tenancy import tenant_context

from .. import selectors, services
from ..errors import (
    OrderOutcomeUnknown,
    PaymentUnavailable,
    SagaFailed,
    SagaInProgress,
    SagaNotFound,
    SagaNotRecoverable,
)
from ..models import Order, OrderSaga, SagaStatus, SagaStep
from .steps import (
    STEPS,
    CompensationBlocked,
    Undone,
    charge_key,
    compensate_all,
    refund_key,
    refund_payment,
    remaining_steps,
    reservation_key,
)
from .validation import MAX_LINES, MAX_QUANTITY, validate

logger = logging.getLogger("pos_core.saga")

LEASE_SECONDS = 30
MAX_ATTEMPTS = 25
STUCK_AFTER = timedelta(seconds=settings.POS_SAGA_STUCK_SECONDS)
# Who cancels a running saga, and what the terminal is told: an operator, or recovery giving up on an order
# interrupted before its charge was attempted (the guest may have left; never charge then).
CANCELLED = {"compensate": "The order was cancelled by an operator.",
             "abandon": "The order was interrupted before it was paid and not finished in time; it was cancelled."}

__all__ = ["LEASE_SECONDS", "MAX_ATTEMPTS", "MAX_LINES", "MAX_QUANTITY", "STEPS", "STUCK_AFTER", "compensate",
           "found_by_key", "place_order", "recover_stuck", "refund_late_capture", "resume", "validate"]


def place_order(*, tenant_id: uuid.UUID, idempotency_key: str, data: Any, terminal_id: str = "") -> Order:
    """Place an order: validate, then run the saga to the end. The same key again returns the same order (or the
    same failure) and never charges twice. The restaurant's settings are read once for the whole placement, and
    the events it commits on the three databases go to the broker together once it ends."""
    with memo_scope(), relay.sent_together():
        # A new key is the common case: no lookup first. A key used before is found by the saga's unique index
        # (the start's insert fails), or, when this request no longer validates, looked up: a retry gets the
        # first answer whatever changed since (a price, the stock, the menu).
        try:
            request = validate(tenant_id=tenant_id, data=data, terminal_id=terminal_id)
        except DomainError:
            existing = selectors.saga_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
            if existing is None:
                raise
            return _outcome_of(existing)
        saga, created = services.saga_start(tenant_id=tenant_id, idempotency_key=idempotency_key, request=request,
                                            lease_seconds=LEASE_SECONDS)
        if not created:
            return _outcome_of(saga)
        return _drive(saga, claimed=True, fresh=True)


def _outcome_of(saga: OrderSaga) -> Order:
    if saga.status == SagaStatus.COMPLETED:
        return selectors.order_get(tenant_id=saga.tenant_id, order_id=saga.order_id)
    if saga.status == SagaStatus.COMPENSATED:
        raise SagaFailed(saga.error or _final_problem(saga, {}, [Undone(money="not_charged")]))
    if saga.status == SagaStatus.FAILED:
        raise OrderOutcomeUnknown("The order could not be finished automatically and is with the restaurant's "
                                  "staff: " + (saga.last_error or "see the saga's log") + ".", saga_id=str(saga.id))
    return _drive(saga, claimed=False)


def _drive(saga: OrderSaga, *, claimed: bool, direction: str = "auto", fresh: bool = False) -> Order:
    """`fresh`: the saga was created by this call, its row is exactly the one in memory (not read back)."""
    if not claimed and not services.saga_claim(saga_id=saga.id, lease_seconds=LEASE_SECONDS):
        raise SagaInProgress("This order is still being placed. Retry in a moment.", saga_id=str(saga.id))
    order = None
    try:
        with log_context(saga_id=saga.id), tenant_context(saga.tenant_id):
            if not fresh:
                saga.refresh_from_db()  # decisions are taken from what was saved, never from memory
            try:
                order = _run(saga, direction)
                return order
            except DatabaseError as exc:
                # A module database (maybe our own) failed mid-step: what it did is not known here. The saved row
                # and the keys tell a retry or the recovery sweep where to go on from.
                logger.warning("saga interrupted by a database error", extra={"error": str(exc)[:300]})
                drop_broken_connections()
                raise OrderOutcomeUnknown(
                    "The order's outcome is not known yet (a database connection was lost). Retry with the same "
                    "Idempotency-Key: it will not be charged twice.", saga_id=str(saga.id)) from exc
    finally:
        if order is None or saga.locked_until is not None:  # recording the order released the lease already
            try:
                services.saga_release(saga_id=saga.id)
            except DatabaseError:
                drop_broken_connections()  # the lease runs out by itself


def _run(saga: OrderSaga, direction: str) -> Order:
    if saga.status == SagaStatus.COMPLETED:
        return _outcome_of(saga)
    if saga.status == SagaStatus.FAILED:  # an operator takes it up again, the way it was going
        services.saga_save(saga=saga, action="operator", detail="taken up again by an operator",
                           status=SagaStatus.COMPENSATING if saga.error else SagaStatus.RUNNING)
    if direction in CANCELLED or saga.status in (SagaStatus.COMPENSATING, SagaStatus.COMPENSATED):
        if saga.status == SagaStatus.RUNNING:
            _start_compensating(saga, {"status": 409, "type": "order-cancelled", "title": "The order was cancelled",
                                       "detail": CANCELLED[direction]})
        return _compensate(saga)
    order = None
    try:
        for step in remaining_steps(saga):
            order = step.action(saga) or order  # recording answers the order it wrote
    except PaymentUnavailable:
        raise  # the charge's outcome is unknown: keep the saga running; a retry or recovery finishes it
    except DomainError as exc:
        _start_compensating(saga, {"status": exc.status, "type": exc.type, "title": exc.title, "detail": exc.detail,
                                   **exc.extra})
        return _compensate(saga)
    except DatabaseError:
        raise
    except Exception as exc:
        logger.exception("saga step failed; compensating", extra={"step": saga.step, "action": saga.current})
        _start_compensating(saga, {"status": 409, "type": "order-failed", "title": "The order could not be placed",
                                   "detail": f"Something failed while placing the order ({type(exc).__name__})."})
        return _compensate(saga)
    logger.info("order placed", extra={"order_id": str(saga.order_id)})
    return order if order is not None else selectors.order_get(tenant_id=saga.tenant_id, order_id=saga.order_id)


def _start_compensating(saga: OrderSaga, problem: dict[str, Any]) -> None:
    """The order failed for good: say so durably (the problem and the new status in one write)."""
    services.saga_save(saga=saga, action="fail", outcome="failed", status=SagaStatus.COMPENSATING,
                       error={**problem, "saga_id": str(saga.id)}, last_error=str(problem.get("detail", ""))[:2000],
                       detail=f"{problem.get('type')}: {problem.get('detail')}")


def _compensate(saga: OrderSaga) -> Order:
    """Undo everything the saga may have done, in reverse, then answer the final problem. Raises SagaFailed
    (the final 4xx), or OrderOutcomeUnknown (503) while something cannot be undone yet."""
    try:
        undone = compensate_all(saga)
    except CompensationBlocked as blocked:
        services.saga_save(saga=saga, action="compensate", outcome="failed", last_error=str(blocked),
                           detail=f"waiting: {blocked}")
        raise OrderOutcomeUnknown(f"The order failed and cannot be finished yet: {blocked}. It is finished "
                                  "automatically; retry with the same Idempotency-Key for the final answer.",
                                  saga_id=str(saga.id), money="refund_pending") from None
    problem = _final_problem(saga, saga.error or {}, undone)
    services.saga_save(saga=saga, action="compensated", status=SagaStatus.COMPENSATED, current="", error=problem,
                       last_error="", detail="; ".join(u.detail for u in undone if u.detail))
    logger.info("saga compensated", extra={"money": problem.get("money")})
    raise SagaFailed(problem)


def _final_problem(saga: OrderSaga, problem: dict[str, Any], undone: list[Undone]) -> dict[str, Any]:
    """The answer every retry gets: the failure, and exactly what happened to the money."""
    money = next((u for u in undone if u.money), Undone(money="not_charged"))
    currency = saga.request["currency"]
    if money.money == "refunded":
        said = f"The payment of {Money(money.amount, currency)} was refunded."
    else:
        said = "Nothing was charged."
    detail = str(problem.get("detail") or "The order could not be placed.")
    base = {"status": 409, "type": "order-failed", "title": "The order could not be placed", **problem}
    # The stock answer keeps the wording terminals know (the reservation failed before any charge).
    if said not in detail and not str(base.get("type", "")).endswith("stock-changed"):
        detail = f"{detail} {said}"
    return {**base, "detail": detail, "money": money.money, "refunded": money.amount, "saga_id": str(saga.id)}



# --- late captures: a payment that resolved to captured after its saga gave up ---------------------------------

def refund_late_capture(*, tenant_id: uuid.UUID, order_id: str, payment_id: str) -> str:
    """A payment for a saga that did not complete was captured after all (an ambiguous charge resolved late):
    refund it (the saga's refund key, so once) and say so on the saga. Returns what was done."""
    saga = selectors.saga_by_order_id(tenant_id=tenant_id, order_id=order_id)
    if saga is None or saga.status in (SagaStatus.COMPLETED, SagaStatus.RUNNING):
        return "belongs to a running or completed saga"
    with log_context(saga_id=saga.id), tenant_context(tenant_id):
        if not services.saga_claim(saga_id=saga.id, lease_seconds=LEASE_SECONDS):
            return "saga busy; recovery will refund it"
        try:
            saga.refresh_from_db()
            undone = refund_payment(saga)
            services.saga_save(saga=saga, action="late-capture", last_error=f"late capture {payment_id} refunded",
                               detail=f"payment {payment_id} was captured after the saga was {saga.status}; "
                                      f"{undone.detail}")
            logger.warning("late capture refunded", extra={"payment_id": payment_id})
            return undone.detail
        except CompensationBlocked as blocked:
            services.saga_save(saga=saga, action="late-capture", outcome="failed", status=SagaStatus.COMPENSATING,
                               last_error=f"late capture {payment_id}: {blocked}", detail=str(blocked))
            return f"refund waiting: {blocked}"
        finally:
            services.saga_release(saga_id=saga.id)


# --- operators and recovery ---------------------------------------------------------------------------------

def resume(*, saga_id: uuid.UUID | str, force: bool = False) -> OrderSaga:
    """Drive a saga forward to completion (operator or recovery). Raises SagaNotFound, SagaNotRecoverable."""
    return _operate(saga_id, "forward", force)


def compensate(*, saga_id: uuid.UUID | str, force: bool = False) -> OrderSaga:
    """Compensate a saga that did not complete; with `force` also one already compensated (every compensation
    looks again by key and undoes whatever is still there) or one whose lease is held.
    Raises SagaNotFound, SagaNotRecoverable, SagaInProgress."""
    return _operate(saga_id, "compensate", force)


def _operate(saga_id: uuid.UUID | str, direction: str, force: bool) -> OrderSaga:
    saga = selectors.saga_get(saga_id=saga_id)
    if saga is None:
        raise SagaNotFound(f"No saga {saga_id}.")
    if saga.status == SagaStatus.COMPLETED or saga.step == SagaStep.RECORDED:
        raise SagaNotRecoverable(f"Saga {saga.id} is already completed; refund the order instead.")
    if saga.status == SagaStatus.COMPENSATED and not (direction == "compensate" and force):
        raise SagaNotRecoverable(f"Saga {saga.id} is already compensated (--force looks again and undoes anything "
                                 "still there).")
    if direction == "forward" and (saga.status in (SagaStatus.COMPENSATING, SagaStatus.COMPENSATED) or saga.error):
        raise SagaNotRecoverable(f"Saga {saga.id} is being compensated; it can only be compensated.")
    if not services.saga_claim(saga_id=saga.id, lease_seconds=LEASE_SECONDS, force=force):
        raise SagaInProgress(f"Saga {saga.id} is being driven by another process right now.")
    if saga.status == SagaStatus.COMPENSATED:
        services.saga_save(saga=saga, action="operator", status=SagaStatus.COMPENSATING,
                           detail="compensation run again by an operator")
    try:
        _drive(saga, claimed=True, direction=direction)
    except DomainError:
        pass  # recorded on the saga; the caller reads its state
    saga.refresh_from_db()
    return saga


def _charge_attempted(saga: OrderSaga) -> bool:
    """Once the charge was attempted the guest is paying or has paid: go forward. Never start a charge for a
    guest who may have left (the saga only reached the reservation): compensate instead."""
    if saga.step in (SagaStep.CHARGED, SagaStep.COMMITTED):
        return True
    return payment.find_payment(tenant_id=saga.tenant_id, idempotency_key=charge_key(saga)) is not None


RESERVATION_WORDS = {"active": "stock reserved", "committed": "stock sold", "released": "stock released",
                     "expired": "reservation expired", "returned": "stock returned"}


def found_by_key(saga: OrderSaga) -> str:
    """What the other modules hold under the saga's keys, for an operator: the saga's own row is written only
    at its start and end (what happened in between is found by key, as recovery does)."""
    reservation = inventory.find_reservation(tenant_id=saga.tenant_id, key=reservation_key(saga))
    paid = payment.find_payment(tenant_id=saga.tenant_id, idempotency_key=charge_key(saga))
    refund = payment.find_refund(tenant_id=saga.tenant_id, idempotency_key=refund_key(saga)) if paid else None
    return ", ".join([
        "nothing reserved" if reservation is None else RESERVATION_WORDS.get(reservation.status, reservation.status),
        "nothing charged" if paid is None else f"payment {paid.status} ({paid.captured})",
        *([f"refund {refund.status} ({refund.amount})"] if refund is not None else []),
    ])


def recover_stuck(*, older_than: timedelta = STUCK_AFTER) -> dict[str, int]:
    """Find sagas stuck mid-way and finish them: forward once the charge was attempted (the guest is paying or
    has paid), otherwise compensate. After MAX_ATTEMPTS a saga is marked failed for an operator."""
    summary = {"found": 0, "completed": 0, "compensated": 0, "still_stuck": 0, "failed": 0}
    for saga in selectors.sagas_stuck(older_than=older_than):
        summary["found"] += 1
        if saga.attempts >= MAX_ATTEMPTS:
            services.saga_save(saga=saga, action="recover", outcome="failed", status=SagaStatus.FAILED,
                               last_error=f"gave up after {saga.attempts} attempts; needs an operator",
                               detail="needs an operator")
            summary["failed"] += 1
            continue
        direction = "forward" if saga.status == SagaStatus.RUNNING and _charge_attempted(saga) else "abandon"
        with log_context(saga_id=saga.id):
            try:
                result = _operate(saga.id, direction, force=False)
            except (SagaInProgress, SagaNotRecoverable):
                summary["still_stuck"] += 1
                continue
            except Exception:
                logger.exception("recovering saga failed")
                drop_broken_connections()
                summary["still_stuck"] += 1
                continue
        if result.status == SagaStatus.COMPLETED:
            summary["completed"] += 1
        elif result.status == SagaStatus.COMPENSATED:
            summary["compensated"] += 1
        else:
            summary["still_stuck"] += 1
    if summary["found"]:
        logger.info("saga recovery", extra=summary)
    return summary
