"""Plain data pos_core hands to other modules and to its own edges: frozen dataclasses, never model instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class CachedStockLevel:
    product_id: str
    variant: str | None
    level: int  # available to sell
    threshold: int
    sequence: int
    source: str  # "cache" | "inventory"


@dataclass(frozen=True)
class AlertInfo:
    id: str
    product_id: str
    variant: str | None
    level: int
    current_level: int
    threshold: int
    status: str
    opened_at: datetime
    closed_at: datetime | None
    resolution: str


@dataclass(frozen=True)
class SagaInfo:
    id: str
    tenant_id: str
    status: str
    step: str
    current: str
    order_id: str
    reservation_id: str
    payment_id: str
    attempts: int
    last_error: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class ImportedOrders:
    """What import_orders did: `ids` maps every key of the batch to its order id (new or already there)."""

    ids: dict[str, str]
    created: tuple[str, ...]
    existing: tuple[str, ...]


@dataclass(frozen=True)
class ImportedOrdersDay:
    """Imported orders placed on one day (tenant's time zone): counts and sums in minor units."""

    day: str  # ISO date
    orders: int
    items: int
    total: int  # sum of grand totals
    refunds: int  # refunds made that day
    refunded: int
