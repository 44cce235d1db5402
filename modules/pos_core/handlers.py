"""What pos_core consumes. Each handler runs in pos_core's database transaction with the event's tenant in
scope; the kernel records (handler, event id) in pos_core's inbox in the same transaction."""

from __future__ import annotations

from pos.contracts import Envelope
from pos.events import subscribe

from .services import orders_complete_tab, stock_level_apply


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
