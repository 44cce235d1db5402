"""Today's business for one restaurant, read through the modules' apis (one batched call per module)."""

from __future__ import annotations

import uuid
import zoneinfo
from dataclasses import dataclass
from datetime import date
from typing import Any

from django.utils import timezone

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.pos_core import api as pos_core
from modules.restaurant import api as restaurant
from pos.money import Money


@dataclass(frozen=True)
class AlertLine:
    id: str
    product: str
    level: int
    threshold: int
    opened_at: Any


@dataclass(frozen=True)
class TableLine:
    id: str
    code: str
    area: str
    status: str
    open_orders: int


@dataclass(frozen=True)
class Dashboard:
    tenant: accounts.TenantInfo
    day: date
    gross: Money
    refunds: Money
    net: Money
    orders: int
    items_sold: int
    open_checks: int
    flagged_checks: int
    tips: Money
    by_method: list[dict[str, Any]]
    busy_tables: list[TableLine]
    free_tables: int
    alerts: list[AlertLine]


def product_label(product: inventory.ProductInfo | None, product_id: str, variant: str | None,
                  locales: tuple[str, ...]) -> str:
    """A product as a manager reads it: its name in the restaurant's first locale (then any), and the variant."""
    if product is None:
        name = product_id
    else:
        name = next((product.names[loc] for loc in locales if product.names.get(loc)), None) \
            or next(iter(product.names.values()), product_id)
    if variant:
        variant_info = product.variant(variant) if product else None
        names = variant_info.names if variant_info else {}
        name += " · " + (next((names[loc] for loc in locales if names.get(loc)), None) or variant)
    return name


def build(*, tenant_id: uuid.UUID | str) -> Dashboard:
    tenant = accounts.get_tenant(tenant_id)
    today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()
    summary = pos_core.get_end_of_day(tenant_id=tenant.id, day=today, tz=tenant.timezone, currency=tenant.currency)
    alerts = pos_core.list_open_alerts(tenant_id=tenant.id, limit=20)
    products = inventory.get_products(tenant_id=tenant.id, product_ids=sorted({a.product_id for a in alerts}))
    tables = restaurant.list_tables(tenant_id=tenant.id)
    money = lambda amount: Money(amount, tenant.currency)  # noqa: E731
    return Dashboard(
        tenant=tenant, day=today, gross=money(summary["gross"]), refunds=money(summary["refunds"]),
        net=money(summary["net"]), orders=summary["orders"], items_sold=summary["items_sold"],
        open_checks=summary["open_tabs"], flagged_checks=summary["flagged_checks"], tips=money(summary["tips"]),
        by_method=[{"method": row["payment_method"], "orders": row["orders"], "gross": money(row["gross"]),
                    "refunds": money(row["refunds"]), "net": money(row["net"]), "tips": money(row["tips"])}
                   for row in summary["payment_methods"]],
        busy_tables=[TableLine(id=t.id, code=t.code, area=t.area, status=t.status, open_orders=len(t.open_order_ids))
                     for t in tables if t.status != "free"],
        free_tables=sum(1 for t in tables if t.status == "free"),
        alerts=[AlertLine(id=a.id, product=product_label(products.get(a.product_id), a.product_id, a.variant,
                                                         tenant.locales),
                          level=a.current_level, threshold=a.threshold, opened_at=a.opened_at) for a in alerts],
    )

