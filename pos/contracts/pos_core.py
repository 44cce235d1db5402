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


@event("pos_core.history_imported", version=1)
class OrderHistoryImported:
    """A batch of historical orders was imported, e.g. from a legacy database. They were placed long ago, so no
    pos_core.order_placed is published for each (nothing about them is news to tables or kitchens): this one
    record per batch says what came in."""

    orders: int
    items: int
    refunds: int
    total: int  # minor units, sum of the batch's grand totals
    currency: str
    source: str  # who imported it, e.g. "legacy-split"
