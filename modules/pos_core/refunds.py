"""Refunding an order: through payment (and, when asked, back into stock through inventory), then recorded in
pos_core. Idempotent by the terminal's Idempotency-Key: a retry repeats the same payment refund key and the
same stock-return keys, so nothing happens twice."""

from __future__ import annotations

import uuid
from typing import Any

from modules.inventory import api as inventory
from modules.payment import api as payment
from pos.money import Money

from . import selectors, services
from .errors import RefundRejected
from .models import OrderRefund


def _err(module: Any, name: str) -> type[BaseException]:
    class _Never(Exception):
        pass

    return getattr(module, name, _Never)


def refund_order(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str, idempotency_key: str, amount: int | None = None,
                 items: list[dict[str, Any]] | None = None, restock: bool = False, reason: str = "",
                 actor: str = "", expected_version: int | None = None, terminal_id: str = "") -> OrderRefund:
    """Refund all or part of an order. Raises OrderNotFound, RefundRejected (422), StaleOrder (409)."""
    order = selectors.order_get(tenant_id=tenant_id, order_id=order_id)
    existing = order.refunds.filter(idempotency_key=idempotency_key).first()
    if existing is not None:
        return existing
    if expected_version is not None and order.version != expected_version:
        from .errors import StaleOrder

        raise StaleOrder(f"Order {order.number} was changed meanwhile (your version {expected_version}).",
                         current_version=order.version)
    plan = services.refund_plan(order=order, amount=amount, items=items)
    refund_id = services.refund_id_for(tenant_id=tenant_id, idempotency_key=idempotency_key)
    try:
        if order.service == "table":
            info = _refund_tenders(order, plan.amount, idempotency_key, reason or "refund at the terminal",
                                   terminal_id)
        else:
            info = payment.refund(tenant_id=tenant_id, payment_id=order.payment_id,
                                  amount=Money(plan.amount, order.currency),
                                  idempotency_key=f"order-{order.id}-refund-{idempotency_key}",
                                  reason=reason or "refund at the terminal", terminal_id=terminal_id)
    except (_err(payment, "OverRefund"), _err(payment, "NotRefundable"), _err(payment, "InvalidAmount")) as exc:
        raise RefundRejected(getattr(exc, "detail", str(exc)), **getattr(exc, "extra", {})) from exc
    restocked = False
    if restock:
        lines = [(item, quantity) for item, quantity, _ in plan.lines if quantity] or \
                [(item, item.quantity - item.refunded_quantity) for item, _, _ in plan.lines
                 if not items and item.quantity - item.refunded_quantity > 0]
        for item, quantity in lines:
            inventory.adjust_stock(tenant_id=tenant_id, product_id=item.product_id, variant=item.variant or None,
                                   kind="return", quantity=quantity, reason=f"refund of order {order.number}",
                                   actor=actor or "terminal", key=f"refund-{refund_id}-{item.id}")
        restocked = bool(lines)
        if not items:
            plan = services.RefundPlan(amount=plan.amount, lines=[
                (item, dict((i.id, q) for i, q in lines).get(item.id, 0), share) for item, _, share in plan.lines])
    return services.order_refund_record(tenant_id=tenant_id, order_id=order.id, idempotency_key=idempotency_key,
                                        refund_id=refund_id,
                                        plan=plan, payment_refund_id=info.id, reason=reason, restocked=restocked,
                                        actor=actor, expected_version=expected_version)


def _refund_tenders(order, amount: int, idempotency_key: str, reason: str, terminal_id: str):
    """A table check may have been paid by several tenders (and by its parts when split): refunds are taken from
    the newest tender first, each at most what it paid toward the bill (tips stay with the staff). The split is
    worked out from what the check had refunded before this refund, so a retry makes the same calls with the same
    keys (one per tender, derived from the terminal's) and nothing is refunded twice. Returns the first refund."""
    tenders = selectors.check_tenders(tenant_id=order.tenant_id, order_id=order.id)
    already, left, first = order.refunded, amount, None
    for tender in reversed(tenders):
        paid = tender.amount + tender.rounding
        used = min(already, paid)
        already -= used
        part = min(left, paid - used)
        if part <= 0:
            continue
        made = payment.refund(tenant_id=order.tenant_id, payment_id=tender.payment_id,
                              amount=Money(part, order.currency),
                              idempotency_key=f"order-{order.id}-refund-{idempotency_key}-{tender.id}", reason=reason,
                              terminal_id=terminal_id)
        first = first or made
        left -= part
    if first is None or left > 0:
        raise RefundRejected(f"The tenders of order {order.number} cannot cover {Money(amount, order.currency)}.")
    return first
