"""The pos_core module's front door for other modules: plain functions, DTOs and plain data only."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from modules.accounts import api as accounts

from .dto import AlertInfo, ImportedOrders, ImportedOrdersDay
from .errors import InvalidImport
from .selectors import alert_info as _alert_info
from .selectors import alert_list as _alert_list
from .selectors import end_of_day as _end_of_day
from .services import imported_order_id as _imported_order_id
from .services import imported_orders_by_day as _imported_by_day
from .services import orders_import as _import

__all__ = [
    "AlertInfo",
    "ImportedOrders",
    "ImportedOrdersDay",
    "InvalidImport",
    "get_end_of_day",
    "import_orders",
    "imported_order_id",
    "imported_orders_by_day",
    "list_open_alerts",
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
