"""What pos_core consumes. Each handler runs in pos_core's database transaction with the event's tenant in
scope; the kernel records (handler, event id) in pos_core's inbox in the same transaction."""

from __future__ import annotations

from modules.payment import api as payment
from pos.contracts import Envelope
from pos.events import subscribe

from .saga import refund_late_capture
from .services import order_refund_from_payment, orders_complete_tab, stock_level_apply
from .table_service.flows import refund_late_tender_capture


@subscribe("inventory.stock_changed", using="pos_core")
def refresh_stock_cache(envelope: Envelope) -> None:
    """Keep the stock cache and the durable level current (never older over newer); open/resolve alerts."""
    event = envelope.payload
    stock_level_apply(tenant_id=envelope.tenant_id, product_id=event.product_id, variant=event.variant,
                      level=event.level, threshold=event.threshold, sequence=event.sequence)


@subscribe("restaurant.tab_closed", using="pos_core")
def complete_tab_orders(envelope: Envelope) -> None:
    """The guests at a table paid up and left: the open orders of that tab are completed."""
    event = envelope.payload
    orders_complete_tab(tenant_id=envelope.tenant_id, table_id=event.table_id, order_ids=list(event.order_ids))


@subscribe("payment.refunded", using="pos_core")
def record_payment_refund(envelope: Envelope) -> None:
    """A refund of an order's payment succeeded, whatever door it came through: the order, its lines, receipt
    and reports count it once (keyed by payment's refund id). Payments of no order (a compensated saga) are
    left alone."""
    event = envelope.payload
    tenant_id = envelope.tenant_id

    def key_of(payment_key: str) -> str | None:
        found = payment.find_refund(tenant_id=tenant_id, idempotency_key=payment_key)
        return found.id if found is not None else None

    order_refund_from_payment(tenant_id=tenant_id, order_id=event.reference, payment_id=event.payment_id,
                              payment_refund_id=event.refund_id, amount=event.amount, reason=event.reason,
                              key_of_payment_refund=key_of)


@subscribe("payment.captured", using="pos_core")
def refund_capture_of_a_failed_order(envelope: Envelope) -> None:
    """A charge whose answer was unknown resolved to captured after its order had failed, or after a table check
    gave that tender up: refund it (once, by the saga's or the tender's refund key); the saga notes it for the
    operator."""
    event = envelope.payload
    if event.reference:
        refund_late_capture(tenant_id=envelope.tenant_id, order_id=event.reference, payment_id=event.payment_id)
        refund_late_tender_capture(tenant_id=envelope.tenant_id, order_id=event.reference,
                                   payment_id=event.payment_id)
