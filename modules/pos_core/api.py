"""The pos_core module's front door for other modules: plain functions, DTOs and plain data only."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from modules.accounts import api as accounts

from .dto import (
    AlertInfo,
    AuditItem,
    AuditRefund,
    AuditRefundLine,
    AuditTender,
    CachedStockLevel,
    ImportedOrders,
    ImportedOrdersDay,
    OrderAudit,
    ReservationOwner,
    SagaInfo,
)
from .errors import InvalidImport
from .selectors import alert_info as _alert_info
from .selectors import alert_list as _alert_list
from .selectors import end_of_day as _end_of_day
from .selectors import orders_audit as _orders_audit
from .selectors import reservation_owners as _reservation_owners
from .selectors import sagas_audit as _sagas_audit
from .selectors import stock_levels_kept as _stock_levels_kept
from .services import imported_order_id as _imported_order_id
from .services import imported_orders_by_day as _imported_by_day
from .services import orders_import as _import

__all__ = [
    "AlertInfo",
    "AuditItem",
    "AuditRefund",
    "AuditRefundLine",
    "AuditTender",
    "CachedStockLevel",
    "ImportedOrders",
    "ImportedOrdersDay",
    "InvalidImport",
    "OrderAudit",
    "ReservationOwner",
    "SagaInfo",
    "audit_orders",
    "audit_sagas",
    "get_end_of_day",
    "import_orders",
    "imported_order_id",
    "imported_orders_by_day",
    "kept_stock_levels",
    "list_open_alerts",
    "reservation_owners",
]


def import_orders(*, tenant_id: uuid.UUID, orders: list[dict[str, Any]], source: str) -> ImportedOrders:
    """Record historical orders with their item snapshots as they were sold, without running the order saga:
    nothing is reserved, charged or sent to the kitchen. One pos_core transaction and a constant number of
    statements per batch (orders, items, refunds and refund lines by bulk INSERT).

    Each order: `key` (the caller's natural key, e.g. "legacy:1234"; the order id is derived from it), `number`
    (1-20 characters, printed on receipts), `currency` (the tenant's), `total` (int minor units: the grand total
    as paid, kept as is even when the lines disagree), `placed_at` (aware datetime), `status` ("completed" or
    "cancelled"), optional `payment_id`, `payment_method`, `table_code`, `note`, `lines` and `refunds`.
    A line: `product_id`, `variant`, `product_names` (as sold), `variant_names`, `category_id`, `category_names`,
    `unit_price` (int), `quantity` (int > 0) and `flags` (text kept on the line's snapshot and shown by the
    terminal API, e.g. "price:current_price" when the price at order time was missing) and `snapshot` (any
    JSON of the source). The total is allocated over the lines so reports add up to it. A refund: `key`,
    `amount` > 0, `created_at`, `reason`, `payment_refund_id`; refunds set partially_refunded / refunded.
    Idempotent by key: a key already imported is reported in `existing` and left as it is. Publishes one
    pos_core.history_imported per batch (no order_placed: these orders are not news).
    Raises InvalidImport (400, every problem as `orders[i].field`; nothing written), TenantNotFound."""
    tenant = accounts.get_tenant(tenant_id)
    ids, created, existing = _import(tenant_id=tenant.id, orders=orders, currency=tenant.currency,
                                     locales=list(tenant.locales), source=source)
    return ImportedOrders(ids=ids, created=tuple(created), existing=tuple(existing))


def imported_orders_by_day(*, tenant_id: uuid.UUID, key_prefix: str, tz: str) -> list[ImportedOrdersDay]:
    """For verifying an import: per day in time zone `tz`, the imported orders whose key starts with
    `key_prefix` (count, items, sum of grand totals, by the day placed) and their refunds (count and sum, by
    the day refunded). Three queries whatever the number of orders. Unknown prefixes give an empty list."""
    return [ImportedOrdersDay(**row) for row in _imported_by_day(tenant_id=tenant_id, key_prefix=key_prefix, tz=tz)]


def imported_order_id(*, tenant_id: uuid.UUID, key: str) -> str:
    """The id the order imported (or to be imported) under `key` has: a stable function of tenant and key, so a
    caller can refer to it (e.g. as a payment's reference) before or after import_orders. Raises nothing."""
    return str(_imported_order_id(tenant_id, key))


def get_end_of_day(*, tenant_id: uuid.UUID, day: date, tz: str, currency: str) -> dict[str, Any]:
    """One restaurant day (in `tz`) from the order snapshots: orders, gross, refunds, net, per payment method, and
    the checks still open. Amounts are integers in the currency's minor units. Never raises for an empty day."""
    return _end_of_day(tenant_id=tenant_id, day=day, tz=tz, currency=currency)


def list_open_alerts(*, tenant_id: uuid.UUID, limit: int = 50) -> list[AlertInfo]:
    """The restaurant's open low-stock alerts, newest first, at most `limit` (names are inventory's to give)."""
    return [_alert_info(alert) for alert in _alert_list(tenant_id=tenant_id, status="open")[:limit]]

def audit_orders(*, tenant_id: uuid.UUID, placed_from: datetime | None = None, placed_to: datetime | None = None,
                 order_ids: list[str] | None = None) -> list[OrderAudit]:
    """Orders placed in [placed_from, placed_to) and/or with the given ids, oldest first, with their items
    (sold and refunded quantities) and refunds (status, payment's refund id, per-line shares and the inventory
    key of any stock taken back); a table check also with its tenders and its parts' (what each paid toward the
    bill, its tip, what it gave back, the payment refunds it counts) and what its parts refunded themselves.
    A constant seven queries whatever the number of orders."""
    return _orders_audit(tenant_id=tenant_id, placed_from=placed_from, placed_to=placed_to, order_ids=order_ids)


def audit_sagas(*, tenant_id: uuid.UUID, saga_ids: list[str] | None = None, order_ids: list[str] | None = None,
                statuses: list[str] | None = None) -> list[SagaInfo]:
    """Order-placement sagas by id, by the order id they were given up front (also the reference of their
    payment), and/or by status (running, compensating, completed, compensated, failed), in one query."""
    return _sagas_audit(tenant_id=tenant_id, saga_ids=saga_ids, order_ids=order_ids, statuses=statuses)


def kept_stock_levels(*, tenant_id: uuid.UUID) -> list[CachedStockLevel]:
    """The stock levels pos_core keeps from inventory.stock_changed (level = available, with inventory's
    sequence), one query. Compare with inventory.list_stock_levels to see a lost or stale update."""
    return _stock_levels_kept(tenant_id=tenant_id)


def reservation_owners(*, tenant_id: uuid.UUID, keys: list[str]) -> dict[str, ReservationOwner]:
    """Who in pos_core made each inventory reservation key (an order-placement saga, a table check's round),
    whether it may still hold stock (`live`: a running saga, an open check) and whether its stock was sold to an
    order that exists (`ordered`). Keys pos_core did not make are absent. Two queries at most."""
    return _reservation_owners(tenant_id=tenant_id, keys=keys)
