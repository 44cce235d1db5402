"""Events published by pos_core."""

from __future__ import annotations

from pos.contracts import event


@event("pos_core.order_placed", version=1)
class OrderPlaced:
    order_id: str
    table_id: str | None
    status: str  # open (a tab on a table) | completed
    total: int  # minor units
    currency: str
    item_count: int


@event("pos_core.order_status_changed", version=1)
class OrderStatusChanged:
    order_id: str
    table_id: str | None
    status: str  # open | completed | cancelled | refunded | partially_refunded
    version: int
