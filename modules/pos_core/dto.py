"""Plain data pos_core hands to other modules and to its own edges: frozen dataclasses, never model instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pos.money import Money


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


@dataclass(frozen=True)
class AuditRefundLine:
    item_id: str
    quantity: int  # units taken back (0 for an amount-only share)
    amount: Money
    stock_key: str  # the key of the stock return in inventory's ledger, "" when nothing went back to stock


@dataclass(frozen=True)
class AuditRefund:
    id: str
    payment_refund_id: str
    amount: Money
    status: str  # pending | succeeded | failed
    restocked: bool
    created_at: datetime
    lines: tuple[AuditRefundLine, ...]


@dataclass(frozen=True)
class AuditItem:
    id: str
    product_id: str
    variant: str | None
    quantity: int
    refunded_quantity: int


@dataclass(frozen=True)
class AuditTender:
    """One tender of a table check (or of one of its parts)."""

    id: str
    order_id: str  # the check, or the part of a split check, that took it
    status: str  # pending | captured | declined | refunded (given back by the check itself)
    method: str
    toward_bill: Money  # amount + cash rounding
    tip: Money
    captured: Money  # toward_bill + tip
    refunded: Money  # given back of what it paid toward the bill
    tip_refunded: Money
    payment_id: str
    refunds: tuple[tuple[str, Money], ...]  # (payment refund id, amount with any tip) of the succeeded refunds


@dataclass(frozen=True)
class OrderAudit:
    """What pos_core recorded of an order, for checks across modules (reconcile)."""

    id: str
    number: str
    status: str
    service: str  # counter (one payment, the saga's) | table (a check paid by one or more tenders)
    saga_id: str
    payment_id: str
    grand_total: Money
    refunded: Money
    placed_at: datetime
    items: tuple[AuditItem, ...]
    refunds: tuple[AuditRefund, ...]
    parent_id: str = ""  # a part of a split check: the check
    tenders: tuple[AuditTender, ...] = ()  # a table check: its tenders and its parts'
    parts_refunded: Money | None = None  # a split check: what its parts have refunded themselves


@dataclass(frozen=True)
class ReservationOwner:
    """Who in pos_core holds an inventory reservation key: an order-placement saga or a table check's round."""

    key: str
    kind: str  # "saga" | "round"
    owner_id: str  # the saga or round id
    order_id: str
    status: str  # the saga's status, or the check's status for a round
    live: bool  # may still hold stock (a running saga, an open check)
    ordered: bool  # its stock was sold to an order that exists
