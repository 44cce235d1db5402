"""Refunding an order, whatever door it came through (terminal, admin on the order; a refund made on the payment
side reaches the order through `payment.refunded`, see handlers.py). Three steps, each keyed by the refund id
(itself derived from the tenant and Idempotency-Key):

    record pending (units and amount held, pos_core) -> refund (payment, key order-refund-<id>)
    -> settle (pos_core) -> units back to stock if asked (inventory, key refund-<id>-<item>)

A retry with the same key, or `recover_refunds` for one left behind by a crash, continues where it stopped; a
refusal from payment frees the held units and answers the same refusal every time."""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings

from modules.inventory import api as inventory
from modules.payment import api as payment
from pos.money import Money
from pos.tenancy import tenant_context

from . import services
from .errors import RefundPending, RefundRejected
from .models import OrderRefund, RefundStatus
from .selectors import refund_stock_key

logger = logging.getLogger("pos_core.refunds")

PAYMENT_REFUSALS = (payment.OverRefund, payment.NotRefundable, payment.InvalidAmount, payment.RefundFailed,
                    payment.PaymentNotFound, payment.IdempotencyConflict)


def refund_order(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str, idempotency_key: str, amount: int | None = None,
                 items: list[dict[str, Any]] | None = None, restock: bool = False, reason: str = "",
                 actor: str = "", expected_version: int | None = None, terminal_id: str = "") -> OrderRefund:
    """Refund all or part of an order. Raises OrderNotFound, RefundRejected (422: over what was sold or paid, or
    refused by payment: nothing refunded), StaleOrder (409), RefundPending (503: payment's answer is not known
    yet; the units stay held and a retry with the same key finishes it)."""
    refund, _ = services.order_refund_begin(
        tenant_id=tenant_id, order_id=order_id, idempotency_key=idempotency_key, amount=amount, items=items,
        restock=restock, reason=reason or "refund at the terminal", actor=actor, expected_version=expected_version,
        terminal_id=terminal_id)
    return drive(refund)


def drive(refund: OrderRefund) -> OrderRefund:
    """Take a refund as far as it can go now (idempotent). Raises RefundRejected, RefundPending."""
    with tenant_context(refund.tenant_id):
        return _drive(refund)


def _drive(refund: OrderRefund) -> OrderRefund:
    tenant_id = refund.tenant_id
    if refund.status == RefundStatus.PENDING:
        refund = _ask_payment(refund)
    if refund.status == RefundStatus.FAILED:
        raise RefundRejected(f"The refund was refused: {refund.failure} Nothing was refunded.",
                             refund_id=str(refund.id))
    if refund.restocked and not refund.restock_done:
        for line in refund.lines.select_related("item"):
            if line.quantity:
                inventory.adjust_stock(tenant_id=tenant_id, product_id=line.item.product_id,
                                       variant=line.item.variant or None, kind="return", quantity=line.quantity,
                                       reason=f"refund of order {refund.order.number}", actor=refund.actor or "refund",
                                       key=refund_stock_key(refund, line.item_id))
        services.order_refund_restocked(tenant_id=tenant_id, refund_id=refund.id)
    return OrderRefund.objects.select_related("order").get(pk=refund.pk)


def _ask_payment(refund: OrderRefund) -> OrderRefund:
    tenant_id = refund.tenant_id
    order = refund.order
    tender_refunds = None
    try:
        if order.service == "table":
            info, tender_refunds = _refund_tenders(refund)
        else:
            info = payment.refund(tenant_id=tenant_id, payment_id=order.payment_id,
                                  amount=Money(refund.amount, refund.currency),
                                  idempotency_key=services.refund_payment_key(refund), reason=refund.reason or "refund",
                                  actor=refund.actor, terminal_id=refund.terminal_id)
    except (*PAYMENT_REFUSALS, RefundRejected) as exc:
        logger.info("refund refused by payment", extra={"refund_id": str(refund.id), "order_id": str(order.id)})
        return services.order_refund_fail(tenant_id=tenant_id, refund_id=refund.id,
                                          failure=getattr(exc, "detail", str(exc)))
    except payment.PaymentAmbiguous as exc:
        raise RefundPending(f"The refund of {Money(refund.amount, refund.currency)} was sent to the payment provider "
                            "and its answer is not known yet; it is finished automatically. Retry with the same "
                            "Idempotency-Key to see the outcome.", refund_id=str(refund.id)) from exc
    return services.order_refund_settle(tenant_id=tenant_id, refund_id=refund.id, payment_refund_id=info.id,
                                        tender_refunds=tender_refunds)


def _refund_tenders(refund: OrderRefund):
    """A table check may have been paid by several tenders (and by its parts when split): the refund is taken from
    the tenders planned when it was recorded (newest first, each at most what it paid toward the bill; tips stay
    with the staff), one payment refund per tender with a key derived from the refund's. Returns the first refund
    made and {refund-tender row id: payment refund id}. A refusal after another tender was refunded leaves the
    refund pending (RefundPending): what payment did is never forgotten, and recovery or an operator finishes it."""
    rows = list(refund.tenders.select_related("tender").order_by("-tender__created_at", "-tender_id"))
    if not rows:
        raise RefundRejected(f"Order {refund.order.number} has no tender to refund "
                             f"{Money(refund.amount, refund.currency)} from.")
    first, made = None, {}
    for row in rows:
        try:
            info = payment.refund(tenant_id=refund.tenant_id, payment_id=row.tender.payment_id,
                                  amount=Money(row.amount, refund.currency),
                                  idempotency_key=f"{services.refund_payment_key(refund)}-{row.tender_id}",
                                  reason=refund.reason or "refund", actor=refund.actor, terminal_id=refund.terminal_id)
        except PAYMENT_REFUSALS as exc:
            if made:
                logger.error("a tender refused its part of a refund after another was refunded",
                             extra={"refund_id": str(refund.id), "tender_id": str(row.tender_id)})
                raise RefundPending(f"Part of the refund was made and one tender refused the rest ({exc.detail}); "
                                    "staff will finish it.", refund_id=str(refund.id)) from exc
            raise
        first = first or info
        made[str(row.pk)] = info.id
    return first, made


def recover_refunds(*, older_than: timedelta | None = None) -> dict[str, int]:
    """Finish refunds a crash or an unknown answer left pending, or with units still to put back to stock,
    untouched for `older_than` (default POS_SAGA_STUCK_SECONDS, as for sagas)."""
    summary = {"found": 0, "succeeded": 0, "failed": 0, "pending": 0}
    older_than = older_than if older_than is not None else timedelta(seconds=settings.POS_SAGA_STUCK_SECONDS)
    for refund in services.refunds_in_flight(older_than=older_than):
        summary["found"] += 1
        try:
            done = drive(refund)
        except RefundRejected:
            summary["failed"] += 1
            continue
        except RefundPending:
            summary["pending"] += 1
            continue
        except Exception:
            logger.exception("recovering a refund failed", extra={"refund_id": str(refund.id)})
            summary["pending"] += 1
            continue
        summary["succeeded" if done.status == RefundStatus.SUCCEEDED else "pending"] += 1
    if summary["found"]:
        logger.info("refund recovery", extra=summary)
    return summary
