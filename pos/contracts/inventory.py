"""Events published by inventory."""

from __future__ import annotations

from pos.contracts import event


@event("inventory.stock_changed", version=1)
class StockChanged:
    """The on-hand level of a product (variant=None) or one of its variants changed.

    `sequence` increases with every change of that product/variant, so a consumer never applies an
    older level over a newer one."""

    product_id: str
    variant: str | None
    level: int  # on hand and not reserved: what a terminal may still sell
    threshold: int  # low-stock threshold
    reason: str  # receive | sale | waste | count | reservation | release | return
    sequence: int


@event("inventory.product_updated", version=1)
class ProductUpdated:
    product_id: str
    version: int
    is_active: bool
    is_sold_out: bool
    changed: list[str]  # names of the fields that changed
