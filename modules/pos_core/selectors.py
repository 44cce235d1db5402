"""Reads of the pos_core module. Reports read only pos_core's own tables (the snapshots)."""

from __future__ import annotations

import csv
import io
import uuid
import zoneinfo
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from modules.inventory import api as inventory
from pos.money import Money
from pos.tenancy import all_tenants, tenant_context

from . import stock_cache
from .dto import (
    AlertInfo,
    AuditItem,
    AuditRefund,
    AuditRefundLine,
    AuditTender,
    CachedStockLevel,
    OrderAudit,
    ReservationOwner,
    SagaInfo,
)
from .errors import OrderNotFound
from .models import (
    KitchenTicket,
    LowStockAlert,
    Order,
    OrderItem,
    OrderPayment,
    OrderPaymentStatus,
    OrderRefund,
    OrderSaga,
    OrderStatus,
    RefundLine,
    RefundStatus,
    RefundTender,
    SagaStatus,
    StockLevel,
)
from .pricing import allocate

# --- orders --------------------------------------------------------------------------------------

def order_get(*, tenant_id: uuid.UUID, order_id: uuid.UUID | str) -> Order:
    try:
        order_id = uuid.UUID(str(order_id))
    except ValueError:
        raise OrderNotFound(f"No order {order_id}.") from None
    with tenant_context(tenant_id):
        try:
            return Order.objects.prefetch_related("items", "refunds", "payments", "adjustments", "parts").get(
                pk=order_id)
        except Order.DoesNotExist:
            raise OrderNotFound(f"No order {order_id}.") from None


def order_list(*, tenant_id: uuid.UUID, date_from: date | None = None, date_to: date | None = None,
               status: str | None = None, table_id: str | None = None, service: str | None = None,
               flagged: bool | None = None, tz: str = "UTC") -> QuerySet[Order]:
    """Orders newest first, with items, payments and parts prefetched (four queries a page, whatever its size)."""
    with tenant_context(tenant_id):
        queryset = Order.objects.all()
    start, end = _bounds(date_from, date_to, tz)
    if start is not None:
        queryset = queryset.filter(placed_at__gte=start)
    if end is not None:
        queryset = queryset.filter(placed_at__lt=end)
    if status:
        queryset = queryset.filter(status=status)
    if table_id:
        queryset = queryset.filter(table_id=table_id)
    if service:
        queryset = queryset.filter(service=service)
    if flagged is not None:
        queryset = queryset.filter(flagged_at__isnull=not flagged)
    return queryset.prefetch_related("items", "payments", "parts").order_by("-placed_at", "-id")


# Days outside these hold no sales; clamping keeps any date a client may send (0001-01-01, 9999-12-31) convertible
# to UTC instead of overflowing.
EARLIEST_DAY, LATEST_DAY = date(1900, 1, 1), date(9000, 12, 31)


def _bounds(date_from: date | None, date_to: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    zone = zoneinfo.ZoneInfo(tz)
    date_from = min(max(date_from, EARLIEST_DAY), LATEST_DAY) if date_from else None
    date_to = min(max(date_to, EARLIEST_DAY), LATEST_DAY) if date_to else None
    start = datetime.combine(date_from, time.min, tzinfo=zone) if date_from else None
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=zone) if date_to else None
    return start, end


# --- sagas ---------------------------------------------------------------------------------------

def saga_get(*, saga_id: uuid.UUID | str) -> OrderSaga | None:
    try:
        saga_id = uuid.UUID(str(saga_id))
    except ValueError:
        return None
    with all_tenants():
        return OrderSaga.objects.filter(pk=saga_id).first()


def saga_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> OrderSaga | None:
    with tenant_context(tenant_id):
        return OrderSaga.objects.filter(idempotency_key=idempotency_key).first()


def saga_by_order_id(*, tenant_id: uuid.UUID, order_id: str) -> OrderSaga | None:
    try:
        order_id = uuid.UUID(str(order_id))
    except ValueError:
        return None
    with tenant_context(tenant_id):
        return OrderSaga.objects.filter(order_id=order_id).first()


def sagas_stuck(*, older_than: timedelta) -> list[OrderSaga]:
    """Sagas still running or compensating, untouched for `older_than`, and not held by a live process."""
    now = timezone.now()
    with all_tenants():
        return list(OrderSaga.objects.filter(
            status__in=[SagaStatus.RUNNING, SagaStatus.COMPENSATING], updated_at__lt=now - older_than,
        ).filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now)).order_by("created_at"))


def sagas_needing_attention(*, older_than: timedelta, include_failed: bool = True) -> list[OrderSaga]:
    now = timezone.now()
    condition = Q(status__in=[SagaStatus.RUNNING, SagaStatus.COMPENSATING], updated_at__lt=now - older_than)
    if include_failed:
        condition |= Q(status=SagaStatus.FAILED)
    with all_tenants():
        return list(OrderSaga.objects.filter(condition).order_by("created_at"))


def saga_info(saga: OrderSaga) -> SagaInfo:
    return SagaInfo(id=str(saga.id), tenant_id=str(saga.tenant_id), status=saga.status, step=saga.step,
                    current=saga.current, order_id=str(saga.order_id), reservation_id=saga.reservation_id,
                    payment_id=saga.payment_id, attempts=saga.attempts, last_error=saga.last_error,
                    created_at=saga.created_at, updated_at=saga.updated_at)


# --- stock ---------------------------------------------------------------------------------------

def stock_levels(*, tenant_id: uuid.UUID, items: list[tuple[str, str | None]]) -> dict[tuple[str, str | None],
                                                                                      CachedStockLevel]:
    """Levels for a terminal's catalog: from the cache, and for misses one call to inventory.get_stock_levels
    (which then fills the cache). Items inventory does not know are absent."""
    items = list(dict.fromkeys(items))
    result: dict[tuple[str, str | None], CachedStockLevel] = {}
    for item, value in stock_cache.get_many(tenant_id, items).items():
        result[item] = CachedStockLevel(product_id=item[0], variant=item[1], level=value["level"],
                                        threshold=value["threshold"], sequence=value["sequence"], source="cache")
    misses = [item for item in items if item not in result]
    if misses:
        fetched = inventory.get_stock_levels(tenant_id=tenant_id, items=misses)
        for item, info in fetched.items():
            stock_cache.put_if_absent(tenant_id, info.product_id, info.variant, level=info.available,
                                      threshold=info.threshold, sequence=info.sequence)
            result[item] = CachedStockLevel(product_id=info.product_id, variant=info.variant, level=info.available,
                                            threshold=info.threshold, sequence=info.sequence, source="inventory")
    return result


# --- alerts --------------------------------------------------------------------------------------

def alert_list(*, tenant_id: uuid.UUID, status: str | None = None) -> QuerySet[LowStockAlert]:
    with tenant_context(tenant_id):
        queryset = LowStockAlert.objects.all()
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-opened_at", "-id")


def alert_info(alert: LowStockAlert) -> AlertInfo:
    return AlertInfo(id=str(alert.id), product_id=alert.product_id, variant=alert.variant or None, level=alert.level,
                     current_level=alert.current_level, threshold=alert.threshold, status=alert.status,
                     opened_at=alert.opened_at, closed_at=alert.closed_at, resolution=alert.resolution)


# --- reports -------------------------------------------------------------------------------------

SALE_STATUSES = [OrderStatus.OPEN, OrderStatus.COMPLETED, OrderStatus.PARTIALLY_REFUNDED, OrderStatus.REFUNDED]
# A sale: a counter order (paid when placed, open while its tab runs) or a completed table check. The parts of a
# split check are how it was paid, not sales of their own: the check (with its items) is the sale.
SOLD = Q(status__in=SALE_STATUSES) & (Q(service="counter") | ~Q(status=OrderStatus.OPEN)) & Q(parent__isnull=True)


def _sold_items() -> Q:
    return (Q(order__status__in=SALE_STATUSES) & (Q(order__service="counter") | ~Q(order__status=OrderStatus.OPEN))
            & Q(order__parent__isnull=True) & Q(quantity__gt=0))  # a line voided whole sold nothing
GROUPS = ("day", "product", "category", "payment_method")


def sales_report(*, tenant_id: uuid.UUID, date_from: date, date_to: date, group_by: str, tz: str,
                 currency: str) -> list[dict[str, Any]]:
    """Quantities, gross, refunds and net per group, from the order snapshots. Gross is what was captured
    (each line's share of the order's grand total); refunds count on the day they were made. By payment method,
    a table check counts under each of its tenders' methods, and `tips` (never in gross or net) is a column."""
    start, end = _bounds(date_from, date_to, tz)
    zone = zoneinfo.ZoneInfo(tz)
    with tenant_context(tenant_id):
        items = OrderItem.objects.filter(_sold_items(), order__placed_at__gte=start, order__placed_at__lt=end)
        refunds = RefundLine.objects.filter(refund__created_at__gte=start, refund__created_at__lt=end,
                                            refund__status=RefundStatus.SUCCEEDED)
        if group_by == "day":
            sold = items.annotate(key=TruncDate("order__placed_at", tzinfo=zone)).values("key")
            back = refunds.annotate(key=TruncDate("refund__created_at", tzinfo=zone)).values("key")
        elif group_by == "product":
            sold = items.values(key_id=F("product_id"), key_variant=F("variant"))
            back = refunds.values(key_id=F("item__product_id"), key_variant=F("item__variant"))
        elif group_by == "category":
            sold = items.values(key=F("category_id"))
            back = refunds.values(key=F("category_id"))
        else:
            sold = items.values(key=F("order__payment_method"))
            back = refunds.values(key=F("refund__payment_method"))
        if group_by == "payment_method":
            # each tender of a table check under its own method (see _by_method)
            sold_rows, refund_rows = _by_method(items, OrderRefund.objects.filter(
                created_at__gte=start, created_at__lt=end, status=RefundStatus.SUCCEEDED))
        else:
            sold_rows = list(sold.annotate(quantity=Sum("quantity"), gross=Sum("allocated_total"),
                                           orders=Count("order_id", distinct=True)))
            refund_rows = list(back.annotate(refunds=Sum("amount"), refunded_quantity=Sum("quantity")))
        names = _names(items, group_by)

    def key_of(row: dict) -> Any:
        if group_by == "product":
            return (row["key_id"], row["key_variant"])
        return row["key"]

    rows: dict[Any, dict[str, Any]] = {}
    for row in sold_rows:
        rows[key_of(row)] = {"quantity": row["quantity"] or 0, "gross": row["gross"] or 0, "orders": row["orders"],
                             "refunds": 0, "refunded_quantity": 0, "tips": row.get("tips", 0)}
    for row in refund_rows:
        entry = rows.setdefault(key_of(row), {"quantity": 0, "gross": 0, "orders": 0, "refunds": 0,
                                              "refunded_quantity": 0, "tips": 0})
        entry["refunds"] += row["refunds"] or 0
        entry["refunded_quantity"] += row["refunded_quantity"] or 0
        entry["tips"] += row.get("tips", 0)
    result = []
    for key, entry in rows.items():
        label: dict[str, Any]
        if group_by == "day":
            label = {"day": key.isoformat() if key else None}
        elif group_by == "product":
            label = {"product_id": key[0], "variant": key[1] or None, "names": names.get(key, {})}
        elif group_by == "category":
            label = {"category_id": key or None, "names": names.get(key, {})}
        else:
            label = {"payment_method": key}
        tips = {"tips": entry["tips"]} if group_by == "payment_method" else {}
        result.append({**label, "quantity": entry["quantity"], "orders": entry["orders"], "gross": entry["gross"],
                       "refunds": entry["refunds"], "refunded_quantity": entry["refunded_quantity"],
                       "net": entry["gross"] - entry["refunds"], **tips, "currency": currency})
    result.sort(key=lambda r: (str(r.get("day") or r.get("product_id") or r.get("category_id")
                                   or r.get("payment_method") or "")))
    return result



def _split_integer(total: int, weights: list[int]) -> list[int]:
    return [part.amount for part in allocate(Money(total, "XXX"), weights)] if weights else []


def _tender_shares(check_ids: list[uuid.UUID]) -> dict[uuid.UUID, dict[str, list[int]]]:
    """Per table check (or its parts, when split): what each payment method paid toward the bill, and its tips."""
    shares: dict[uuid.UUID, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    rows = (OrderPayment.objects.filter(Q(order_id__in=check_ids) | Q(order__parent_id__in=check_ids),
                                        status=OrderPaymentStatus.CAPTURED)
            .values_list("order_id", "order__parent_id", "method", "amount", "rounding", "tip"))
    for order_id, parent_id, method, amount, rounding, tip in rows:
        share = shares[parent_id or order_id][method]
        share[0] += amount + rounding
        share[1] += tip
    return shares


def refunds_by_method(refunds: QuerySet[OrderRefund]) -> dict[str, dict[str, int]]:
    """Succeeded refunds per payment method: a table check's refund under the methods of the tenders it was taken
    from (its units split over them by amount), any other under the order's method. `tips` is what was given
    back of tips (a refund made on a tender's payment beyond what it paid toward the bill): not a sales refund."""
    result: dict[str, dict[str, int]] = defaultdict(lambda: {"refunds": 0, "refunded_quantity": 0, "tips": 0})
    rows = list(refunds.values_list("id", "amount", "payment_method"))
    ids = [row[0] for row in rows]
    quantities = dict(RefundLine.objects.filter(refund_id__in=ids).values("refund_id").annotate(q=Sum("quantity"))
                      .values_list("refund_id", "q"))
    tenders: dict[uuid.UUID, list[tuple[str, int, int]]] = defaultdict(list)
    for refund_id, method, amount, tip in RefundTender.objects.filter(refund_id__in=ids).values_list(
            "refund_id", "method", "amount", "tip"):
        tenders[refund_id].append((method, amount, tip))
    for refund_id, amount, method in rows:
        parts = tenders.get(refund_id) or [(method, amount, 0)]
        units = _split_integer(quantities.get(refund_id) or 0, [max(part, 0) for _, part, _ in parts])
        for (part_method, part, tip), unit in zip(parts, units, strict=True):
            entry = result[part_method]
            entry["refunds"] += part
            entry["refunded_quantity"] += unit
            entry["tips"] += tip
    return dict(result)


def _by_method(items: QuerySet[OrderItem], refunds: QuerySet[OrderRefund]
               ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Sales and refunds per payment method. A counter order counts under its method; a table check under the
    method of each of its tenders (and its parts' tenders) with what that tender paid toward the bill, its units
    split over the methods by amount (largest remainder), so every column still adds up to the report's totals.
    Tips (less tips given back) are a column of their own, never in gross, refunds or net."""
    sold: dict[str, dict[str, Any]] = defaultdict(lambda: {"quantity": 0, "gross": 0, "orders": set(), "tips": 0})
    checks: dict[uuid.UUID, tuple[int, int, str]] = {}
    for order_id, service, method, quantity, gross in items.values(
            "order_id", "order__service", "order__payment_method").annotate(
            units=Sum("quantity"), gross=Sum("allocated_total")).values_list(
            "order_id", "order__service", "order__payment_method", "units", "gross"):
        if service == "table":
            checks[order_id] = (quantity or 0, gross or 0, method)
            continue
        entry = sold[method]
        entry["quantity"] += quantity or 0
        entry["gross"] += gross or 0
        entry["orders"].add(order_id)
    shares = _tender_shares(list(checks))
    for order_id, (quantity, gross, method) in checks.items():
        paid = dict(shares.get(order_id) or {}) or {method: [gross, 0]}
        methods = sorted(paid)
        for part_method, units in zip(methods, _split_integer(quantity, [max(paid[m][0], 0) for m in methods]),
                                      strict=True):
            entry = sold[part_method]
            entry["quantity"] += units
            entry["gross"] += paid[part_method][0]
            entry["tips"] += paid[part_method][1]
            entry["orders"].add(order_id)
    back = refunds_by_method(refunds)
    return ([{"key": method, "quantity": e["quantity"], "gross": e["gross"], "orders": len(e["orders"]),
              "tips": e["tips"]} for method, e in sold.items()],
            [{"key": method, "refunds": e["refunds"], "refunded_quantity": e["refunded_quantity"],
              "tips": -e["tips"]} for method, e in back.items()])


def _names(items: QuerySet[OrderItem], group_by: str) -> dict[Any, dict]:
    """The names as sold, from the most recent snapshot of each product or category in the range."""
    if group_by == "product":
        rows = items.order_by("order__placed_at").values_list("product_id", "variant", "product_names", "variant_names")
        return {(p, v): {"product": pn, "variant": vn} for p, v, pn, vn in rows}
    if group_by == "category":
        return dict(items.order_by("order__placed_at").values_list("category_id", "category_names"))
    return {}


def end_of_day(*, tenant_id: uuid.UUID, day: date, tz: str, currency: str) -> dict[str, Any]:
    """One day's summary: orders, totals (subtotal, service charge, tax, rounding), refunds, net, per method."""
    start, end = _bounds(day, day, tz)
    with tenant_context(tenant_id):
        orders = Order.objects.filter(SOLD, placed_at__gte=start, placed_at__lt=end)
        totals = orders.aggregate(orders=Count("id"), subtotal=Sum("subtotal"), service_charge=Sum("service_charge"),
                                  tax=Sum("tax"), rounding=Sum("rounding"), gross=Sum("grand_total"))
        items_sold = OrderItem.objects.filter(order__in=orders).aggregate(q=Sum("quantity"))["q"] or 0
        per_method = {row["payment_method"]: {"orders": row["n"], "gross": row["gross"] or 0, "refunds": 0, "tips": 0}
                      for row in orders.filter(service="counter").values("payment_method")
                      .annotate(n=Count("id"), gross=Sum("grand_total"))}
        # Table checks: each tender on its own (a check paid by cash and card counts once under each method).
        tenders = OrderPayment.objects.filter(Q(order__in=orders) | Q(order__parent__in=orders),
                                              status=OrderPaymentStatus.CAPTURED)
        for row in tenders.values("method").annotate(n=Count(Coalesce("order__parent_id", "order_id"), distinct=True),
                                                     amount=Sum("amount"),
                                                     rounding=Sum("rounding"), tips=Sum("tip")):
            entry = per_method.setdefault(row["method"], {"orders": 0, "gross": 0, "refunds": 0, "tips": 0})
            entry["orders"] += row["n"]
            entry["gross"] += (row["amount"] or 0) + (row["rounding"] or 0)
            entry["tips"] += row["tips"] or 0
        refunds = OrderRefund.objects.filter(created_at__gte=start, created_at__lt=end, status=RefundStatus.SUCCEEDED)
        for method, back in refunds_by_method(refunds).items():
            entry = per_method.setdefault(method, {"orders": 0, "gross": 0, "refunds": 0, "tips": 0})
            entry["refunds"] += back["refunds"]
            entry["tips"] -= back["tips"]  # tips given back
        refund_total = refunds.aggregate(total=Sum("amount"), n=Count("id"))
        flagged = Order.objects.filter(status=OrderStatus.OPEN, service="table", parent__isnull=True,
                                       flagged_at__isnull=False).count()
        open_tabs = Order.objects.filter(status=OrderStatus.OPEN, placed_at__lt=end, parent__isnull=True).count()
        open_checks = Order.objects.filter(status=OrderStatus.OPEN, service="table", placed_at__lt=end,
                                           parent__isnull=True).aggregate(n=Count("id"), due=Sum("grand_total"),
                                                                          paid=Sum("paid"))
    gross = totals["gross"] or 0
    refunded = refund_total["total"] or 0
    return {
        "date": day.isoformat(), "timezone": tz, "currency": currency, "orders": totals["orders"] or 0,
        "items_sold": items_sold, "subtotal": totals["subtotal"] or 0, "service_charge": totals["service_charge"] or 0,
        "tax": totals["tax"] or 0, "rounding": totals["rounding"] or 0, "gross": gross, "refunds": refunded,
        "refund_count": refund_total["n"] or 0, "net": gross - refunded, "open_tabs": open_tabs,
        "tips": sum(values["tips"] for values in per_method.values()),
        "open_checks": open_checks["n"] or 0, "flagged_checks": flagged,
        "open_checks_due": (open_checks["due"] or 0) - (open_checks["paid"] or 0),
        "payment_methods": [{"payment_method": method, **values, "net": values["gross"] - values["refunds"]}
                            for method, values in sorted(per_method.items())],
    }


def daily_totals(*, tenant_id: uuid.UUID, days: int, tz: str) -> list[tuple[date, int, int]]:
    """(day, gross, refunds) for the last `days` days, oldest first, zero-filled: the admin chart."""
    zone = zoneinfo.ZoneInfo(tz)
    today = timezone.now().astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    start, end = _bounds(first, today, tz)
    with tenant_context(tenant_id):
        sold = dict(Order.objects.filter(SOLD, placed_at__gte=start, placed_at__lt=end)
                    .annotate(day=TruncDate("placed_at", tzinfo=zone)).values("day")
                    .annotate(total=Sum("grand_total")).values_list("day", "total"))
        back = dict(OrderRefund.objects.filter(created_at__gte=start, created_at__lt=end, status=RefundStatus.SUCCEEDED)
                    .annotate(day=TruncDate("created_at", tzinfo=zone)).values("day")
                    .annotate(total=Sum("amount")).values_list("day", "total"))
    return [(first + timedelta(days=i), sold.get(first + timedelta(days=i), 0) or 0,
             back.get(first + timedelta(days=i), 0) or 0) for i in range(days)]


def refund_get(*, tenant_id: uuid.UUID, refund_id: uuid.UUID | str) -> OrderRefund:
    with tenant_context(tenant_id):
        return OrderRefund.objects.select_related("order").prefetch_related("order__items").get(pk=refund_id)


# --- kitchen -------------------------------------------------------------------------------------

def ticket_list(*, tenant_id: uuid.UUID, station: str | None = None, status: str | None = None
                ) -> QuerySet[KitchenTicket]:
    """Kitchen tickets oldest first (the order a station works in), by station and status."""
    with tenant_context(tenant_id):
        queryset = KitchenTicket.objects.all()
    if station:
        queryset = queryset.filter(station=station)
    if status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("created_at", "id")


def sales_report_csv(rows: list[dict[str, Any]], *, group_by: str, locale: str) -> str:
    """The sales report as CSV text: one line per group, names in `locale` (the terminal API and the admin's)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    label = {"day": ["day"], "product": ["product_id", "variant", "name"], "category": ["category_id", "name"],
             "payment_method": ["payment_method"]}[group_by]
    tips = ["tips"] if group_by == "payment_method" else []
    writer.writerow([*label, "quantity", "orders", "gross", "refunds", "net", *tips, "currency"])
    for row in rows:
        if group_by == "product":
            names = row["names"].get("product", {}) if row["names"] else {}
            head = [row["product_id"], row["variant"] or "", names.get(locale, "")]
        elif group_by == "category":
            head = [row["category_id"] or "", (row["names"] or {}).get(locale, "")]
        else:
            head = [row[group_by]]
        writer.writerow([*head, row["quantity"], row["orders"], row["gross"], row["refunds"], row["net"],
                         *([row["tips"]] if tips else []), row["currency"]])
    return buffer.getvalue()


# --- audit (reconcile across modules) ---------------------------------------------------------------

def refund_stock_key(refund: OrderRefund, item_id: uuid.UUID | str) -> str:
    """The inventory key under which a refund's units of one item went back to stock."""
    return f"refund-{refund.id}-{item_id}"


def orders_audit(*, tenant_id: uuid.UUID, placed_from: datetime | None = None, placed_to: datetime | None = None,
                 order_ids: list[str] | None = None) -> list[OrderAudit]:
    """Orders with their items and refunds, and a table check's tenders with their refunds, in seven queries
    whatever their number."""
    with tenant_context(tenant_id):
        orders = Order.objects.all()
        if placed_from is not None:
            orders = orders.filter(placed_at__gte=placed_from)
        if placed_to is not None:
            orders = orders.filter(placed_at__lt=placed_to)
        if order_ids is not None:
            wanted = []
            for value in order_ids:
                try:
                    wanted.append(uuid.UUID(str(value)))
                except ValueError:
                    continue
            orders = orders.filter(pk__in=wanted)
        rows = list(orders.order_by("placed_at", "id").prefetch_related("items", "refunds__lines"))
        checks = [order.pk for order in rows if order.service == "table" and order.parent_id is None]
        tenders: dict[uuid.UUID, list[OrderPayment]] = defaultdict(list)
        tender_refunds: dict[uuid.UUID, list[tuple[str, int]]] = defaultdict(list)
        parts_refunded: dict[uuid.UUID, int] = {}
        if checks:
            for tender in OrderPayment.objects.filter(Q(order_id__in=checks) | Q(order__parent_id__in=checks)) \
                    .select_related("order").order_by("created_at", "id"):
                tenders[tender.order.parent_id or tender.order_id].append(tender)
            for tender_id, refund_id, amount, tip in RefundTender.objects.filter(
                    tender__in=[t for found in tenders.values() for t in found], refund__status=RefundStatus.SUCCEEDED,
                    ).exclude(payment_refund_id="").values_list("tender_id", "payment_refund_id", "amount", "tip"):
                tender_refunds[tender_id].append((refund_id, amount + tip))
            parts_refunded = dict(Order.objects.filter(parent_id__in=checks).values("parent_id")
                                  .annotate(total=Sum("refunded")).values_list("parent_id", "total"))
    result = []
    for order in rows:
        def m(amount: int, currency: str = order.currency) -> Money:
            return Money(amount, currency)

        result.append(OrderAudit(
            id=str(order.id), number=order.number, status=order.status, service=order.service,
            saga_id=str(order.saga_id or ""),
            payment_id=order.payment_id, grand_total=m(order.grand_total), refunded=m(order.refunded),
            placed_at=order.placed_at,
            items=tuple(AuditItem(id=str(item.id), product_id=item.product_id, variant=item.variant or None,
                                  quantity=item.quantity, refunded_quantity=item.refunded_quantity)
                        for item in order.items.all()),
            refunds=tuple(AuditRefund(
                id=str(refund.id), payment_refund_id=refund.payment_refund_id, amount=m(refund.amount),
                status=refund.status, restocked=refund.restocked,
                created_at=refund.created_at,
                lines=tuple(AuditRefundLine(item_id=str(line.item_id), quantity=line.quantity, amount=m(line.amount),
                                            stock_key=refund_stock_key(refund, line.item_id)
                                            if refund.restocked and line.quantity else "")
                            for line in refund.lines.all()))
                for refund in order.refunds.all()),
            parent_id=str(order.parent_id or ""),
            tenders=tuple(AuditTender(
                id=str(t.id), order_id=str(t.order_id), status=t.status, method=t.method,
                toward_bill=m(t.amount + t.rounding), tip=m(t.tip), captured=m(t.captured), refunded=m(t.refunded),
                tip_refunded=m(t.tip_refunded), payment_id=t.payment_id,
                refunds=tuple((refund_id, m(amount)) for refund_id, amount in tender_refunds.get(t.id, [])))
                for t in tenders.get(order.pk, [])),
            parts_refunded=m(parts_refunded.get(order.pk) or 0) if order.split_kind else None,
        ))
    return result


def sagas_audit(*, tenant_id: uuid.UUID, saga_ids: list[str] | None = None, order_ids: list[str] | None = None,
                statuses: list[str] | None = None) -> list[SagaInfo]:
    def uuids(values: list[str]) -> list[uuid.UUID]:
        found = []
        for value in values:
            try:
                found.append(uuid.UUID(str(value)))
            except ValueError:
                continue
        return found

    with tenant_context(tenant_id):
        rows = OrderSaga.objects.all()
        if saga_ids is not None:
            rows = rows.filter(pk__in=uuids(saga_ids))
        if order_ids is not None:
            rows = rows.filter(order_id__in=uuids(order_ids))
        if statuses is not None:
            rows = rows.filter(status__in=statuses)
        return [saga_info(row) for row in rows.order_by("created_at")]


def stock_levels_kept(*, tenant_id: uuid.UUID) -> list[CachedStockLevel]:
    with tenant_context(tenant_id):
        return [CachedStockLevel(product_id=row.product_id, variant=row.variant or None, level=row.level,
                                 threshold=row.threshold, sequence=row.sequence, source="pos_core")
                for row in StockLevel.objects.order_by("product_id", "variant")]


def reservation_owners(*, tenant_id: uuid.UUID, keys: list[str]) -> dict[str, ReservationOwner]:
    """The saga (`saga-<id>`) or table round (`round-<id>`) behind each reservation key; two queries at most.
    Keys pos_core did not make are absent."""
    from .models import OrderRound

    wanted: dict[str, list[tuple[str, uuid.UUID]]] = {"saga": [], "round": []}
    for key in keys:
        kind, _, rest = key.partition("-")
        if kind in wanted:
            try:
                wanted[kind].append((key, uuid.UUID(rest)))
            except ValueError:
                continue
    found: dict[str, ReservationOwner] = {}
    with tenant_context(tenant_id):
        if wanted["saga"]:
            sagas = {row.id: row for row in OrderSaga.objects.filter(pk__in=[pk for _, pk in wanted["saga"]])}
            ordered = set(Order.objects.filter(pk__in=[row.order_id for row in sagas.values()])
                          .values_list("pk", flat=True))
            for key, pk in wanted["saga"]:
                row = sagas.get(pk)
                if row is not None:
                    found[key] = ReservationOwner(
                        key=key, kind="saga", owner_id=str(row.id), order_id=str(row.order_id), status=row.status,
                        live=row.status in (SagaStatus.RUNNING, SagaStatus.COMPENSATING),
                        ordered=row.order_id in ordered)
        if wanted["round"]:
            rounds = OrderRound.objects.select_related("order").filter(pk__in=[pk for _, pk in wanted["round"]])
            by_id = {row.id: row for row in rounds}
            for key, pk in wanted["round"]:
                row = by_id.get(pk)
                if row is not None:
                    found[key] = ReservationOwner(
                        key=key, kind="round", owner_id=str(row.id), order_id=str(row.order_id),
                        status=row.order.status, live=row.order.status == OrderStatus.OPEN, ordered=True)
    return found
