"""Events published by restaurant."""

from __future__ import annotations

from pos.contracts import event


@event("restaurant.tab_closed", version=1)
class TabClosed:
    """The guests at a table paid up and left: the orders of the tab are done."""

    table_id: str
    order_ids: list[str]


@event("restaurant.table_status_changed", version=1)
class TableStatusChanged:
    table_id: str
    status: str  # free | occupied | needs_cleaning
