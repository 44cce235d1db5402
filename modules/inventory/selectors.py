"""Reads of the inventory module. Every read that returns several products costs a constant number of
queries: the products, their categories, their stock items."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db.models import F, QuerySet

from pos.db.hot import rows_where, rows_where_together
from pos.memo import remember
from pos.money import Money
from pos.tenancy import tenant_context

from .dto import (
    CatalogPage,
    CategoryInfo,
    MovementInfo,
    OptionChoiceInfo,
    OptionGroupInfo,
    ProductInfo,
    ReservationInfo,
    StockLevelInfo,
    StockLine,
    VariantInfo,
)
from .errors import ProductNotFound, ReservationNotFound
from .models import Category, Product, Reservation, StockItem

DB = "inventory"


def _variant_key(variant: str | None) -> str:
    return variant or StockItem.PRODUCT_LEVEL


def _variant_out(key: str) -> str | None:
    return key or None


def option_groups_info(groups: list[dict], currency: str) -> tuple[OptionGroupInfo, ...]:
    return tuple(
        OptionGroupInfo(
            key=g["key"], names=dict(g.get("names", {})), min_select=g.get("min_select", 0),
            max_select=g.get("max_select", 1),
            choices=tuple(OptionChoiceInfo(key=c["key"], names=dict(c.get("names", {})),
                                           price_delta=Money(c.get("price_delta", 0), currency))
                          for c in g.get("choices", [])),
        )
        for g in groups
    )


def stock_level_info(item: StockItem) -> StockLevelInfo:
    return StockLevelInfo(product_id=item.product_id, variant=_variant_out(item.variant), on_hand=item.on_hand,
                          reserved=item.reserved, available=item.on_hand - item.reserved, threshold=item.threshold,
                          sequence=item.sequence)


def category_info(category: Category) -> CategoryInfo:
    return CategoryInfo(id=category.id, names=dict(category.names), position=category.position,
                        is_active=category.is_active)


def product_info(product: Product, *, categories: dict[str, Category], stock: dict[tuple[str, str], StockItem]
                 ) -> ProductInfo:
    currency = product.price_currency
    variants = []
    for v in product.variants:
        item = stock.get((product.id, v["key"])) if product.track_stock else None
        level = max(item.available, 0) if item is not None else (0 if product.track_stock else None)
        variants.append(VariantInfo(
            key=v["key"], names=dict(v.get("names", {})), price=Money(v["price"], currency), stock_level=level,
            option_groups=option_groups_info(v.get("option_groups", []), currency),
            is_sold_out=product.is_sold_out or (level is not None and level <= 0),
        ))
    if product.track_stock and not product.variants:
        item = stock.get((product.id, StockItem.PRODUCT_LEVEL))
        stock_level: int | None = max(item.available, 0) if item is not None else 0
        exhausted = stock_level <= 0
    else:
        stock_level = None
        exhausted = bool(variants) and all(v.is_sold_out for v in variants)
    category = categories.get(product.category_id) if product.category_id else None
    return ProductInfo(
        id=product.id, names=dict(product.names), category_id=product.category_id,
        category_names=dict(category.names) if category else {}, price=Money(product.price_amount, currency),
        is_active=product.is_active, is_sold_out=product.is_sold_out or exhausted, stock_level=stock_level,
        variants=tuple(variants), option_groups=option_groups_info(product.option_groups, currency),
        version=product.version, descriptions=dict(product.descriptions), attributes=dict(product.attributes),
        track_stock=product.track_stock, updated_at=product.updated_at,
    )


def product_infos(products: Sequence[Product], stock_items: Sequence[StockItem] | None = None) -> list[ProductInfo]:
    """DTOs for already-loaded products: two queries (categories, stock items) whatever their number; one when
    their `stock_items` were read with them (any of other products or of untracked ones are left out)."""
    if not products:
        return []
    category_ids = {p.category_id for p in products if p.category_id}
    categories = {c.id: c for c in rows_where(Category, using=DB, id__in=category_ids)} if category_ids else {}
    tracked = {p.id for p in products if p.track_stock}
    if stock_items is None:
        stock_items = rows_where(StockItem, using=DB, product_id__in=list(tracked)) if tracked else []
    stock = {(s.product_id, s.variant): s for s in stock_items if s.product_id in tracked}
    return [product_info(p, categories=categories, stock=stock) for p in products]


def products_get(*, tenant_id: uuid.UUID, product_ids: Iterable[str]) -> dict[str, ProductInfo]:
    ids = list(dict.fromkeys(str(pid) for pid in product_ids))
    if not ids:
        return {}
    with tenant_context(tenant_id):  # read on every placement: written as text, not compiled, in one round trip
        products, stock_items = rows_where_together(DB, (Product, {"id__in": ids}),
                                                    (StockItem, {"product_id__in": ids}))
        for product in products:  # what selling them checks, if it comes in the same unit of work (a placement)
            remember(product_memo_key(tenant_id, product.id), product)
        return {info.id: info for info in product_infos(products, stock_items)}


def product_memo_key(tenant_id: uuid.UUID, product_id: str) -> tuple[str, str, str]:
    """The key a product row read in a unit of work is remembered by (`pos.memo`)."""
    return ("inventory.product", str(tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))),
            product_id)


def product_get(*, tenant_id: uuid.UUID, product_id: str) -> ProductInfo:
    found = products_get(tenant_id=tenant_id, product_ids=[product_id])
    if product_id not in found:
        raise ProductNotFound(f"No product {product_id!r}.", product_id=product_id)
    return found[product_id]


def catalog_queryset(*, category_id: str | None = None, active: bool | None = None,
                     query: str | None = None) -> QuerySet[Product]:
    """Products of the tenant in scope, filtered. `query` matches a name in any locale (or the id)."""
    queryset = Product.objects.using(DB).all()
    if category_id:
        queryset = queryset.filter(category_id=category_id)
    if active is not None:
        queryset = queryset.filter(is_active=active)
    if query and query.strip():
        # search_text is lowercase already: `contains` on the lowercased query (a trigram index serves it on
        # PostgreSQL), where `icontains` would compare UPPER() of both and use no index.
        queryset = queryset.filter(search_text__contains=query.strip().lower())
    return queryset.order_by("position", "id")


def catalog_list(*, tenant_id: uuid.UUID, category_id: str | None = None, active: bool | None = None,
                 query: str | None = None, limit: int = 50, offset: int = 0) -> CatalogPage:
    limit = max(1, min(int(limit), 200))
    offset = max(0, int(offset))
    with tenant_context(tenant_id):
        queryset = catalog_queryset(category_id=category_id, active=active, query=query)
        total = queryset.count()
        products = list(queryset[offset:offset + limit])
        return CatalogPage(total=total, items=tuple(product_infos(products)))


def products_search(*, tenant_id: uuid.UUID, query: str, limit: int = 20) -> list[ProductInfo]:
    if not query or not query.strip():
        return []
    return list(catalog_list(tenant_id=tenant_id, query=query, limit=limit).items)


def categories_list(*, tenant_id: uuid.UUID, active: bool | None = None) -> list[CategoryInfo]:
    with tenant_context(tenant_id):
        queryset = Category.objects.using(DB).all()
        if active is not None:
            queryset = queryset.filter(is_active=active)
        return [category_info(c) for c in queryset.order_by("position", "id")]


def stock_levels_get(*, tenant_id: uuid.UUID, items: Iterable[tuple[str, str | None]]
                     ) -> dict[tuple[str, str | None], StockLevelInfo]:
    wanted = {(str(pid), _variant_key(variant)) for pid, variant in items}
    if not wanted:
        return {}
    with tenant_context(tenant_id):
        rows = StockItem.objects.using(DB).filter(product_id__in={pid for pid, _ in wanted})
        return {(row.product_id, _variant_out(row.variant)): stock_level_info(row)
                for row in rows if (row.product_id, row.variant) in wanted}


def low_stock_items() -> QuerySet[StockItem]:
    """Stock items at or below their threshold (tenant in scope)."""
    return StockItem.objects.using(DB).filter(on_hand__lte=F("reserved") + F("threshold"))


def sold_out_items() -> QuerySet[StockItem]:
    return StockItem.objects.using(DB).filter(on_hand__lte=F("reserved"))


def reservation_info(reservation: Reservation) -> ReservationInfo:
    return ReservationInfo(
        id=reservation.id, key=reservation.key, status=reservation.status,
        lines=tuple(StockLine(product_id=line["product_id"], variant=line.get("variant") or None,
                              quantity=line["quantity"]) for line in reservation.lines),
        expires_at=reservation.expires_at,
    )


def reservation_get(*, tenant_id: uuid.UUID, reservation_id: str) -> ReservationInfo:
    with tenant_context(tenant_id):
        try:
            return reservation_info(Reservation.objects.using(DB).get(pk=str(reservation_id)))
        except Reservation.DoesNotExist:
            raise ReservationNotFound(f"No reservation {reservation_id!r}.", reservation_id=str(reservation_id)) from None


def ledger_disagreements(*, tenant_id: uuid.UUID | None = None) -> tuple[int, list[dict]]:
    """Every stock item (all tenants, or one) whose level differs from the sum of its ledger. System work."""
    from django.db.models import Sum

    from pos.tenancy import all_tenants

    from .models import Movement

    with all_tenants():
        movements = Movement.objects.using(DB).all()
        stock = StockItem.objects.using(DB).all()
        if tenant_id is not None:
            movements, stock = movements.filter(tenant_id=tenant_id), stock.filter(tenant_id=tenant_id)
        sums = {(row["tenant_id"], row["product_id"], row["variant"]): row for row in
                movements.values("tenant_id", "product_id", "variant")
                .annotate(on_hand_sum=Sum("on_hand_delta"), reserved_sum=Sum("reserved_delta")).order_by()}
        items = list(stock)
    problems = []
    for item in items:
        row = sums.get((item.tenant_id, item.product_id, item.variant), {})
        ledger = (row.get("on_hand_sum") or 0, row.get("reserved_sum") or 0)
        if ledger != (item.on_hand, item.reserved):
            problems.append({"tenant_id": str(item.tenant_id), "product_id": item.product_id, "variant": item.variant,
                             "on_hand": item.on_hand, "reserved": item.reserved, "ledger_on_hand": ledger[0],
                             "ledger_reserved": ledger[1]})
    return len(items), problems


def stock_levels_all(*, tenant_id: uuid.UUID) -> list[StockLevelInfo]:
    with tenant_context(tenant_id):
        return [stock_level_info(row) for row in StockItem.objects.using(DB).order_by("product_id", "variant")]


def movement_info(row) -> MovementInfo:
    return MovementInfo(
        id=str(row.id), product_id=row.product_id, variant=_variant_out(row.variant), kind=row.kind,
        quantity=row.quantity, on_hand_delta=row.on_hand_delta, reserved_delta=row.reserved_delta,
        on_hand_after=row.on_hand_after, reserved_after=row.reserved_after, sequence=row.sequence,
        reason=row.reason, actor=row.actor, reference=row.reference, created_at=row.created_at)


def movements_list(*, tenant_id: uuid.UUID, kinds: Iterable[str] | None = None,
                   references: Iterable[str] | None = None, created_from: datetime | None = None,
                   created_to: datetime | None = None) -> list[MovementInfo]:
    from .models import Movement

    with tenant_context(tenant_id):
        rows = Movement.objects.using(DB).all()
        if kinds is not None:
            rows = rows.filter(kind__in=list(kinds))
        if references is not None:
            wanted = [ref for ref in references if ref]
            if not wanted:
                return []
            rows = rows.filter(reference__in=wanted)
        if created_from is not None:
            rows = rows.filter(created_at__gte=created_from)
        if created_to is not None:
            rows = rows.filter(created_at__lt=created_to)
        return [movement_info(row) for row in rows.order_by("created_at", "sequence")]


def reservations_list(*, tenant_id: uuid.UUID, status: str | None = None, ids: Iterable[str] | None = None,
                      keys: Iterable[str] | None = None) -> list[ReservationInfo]:
    with tenant_context(tenant_id):
        rows = Reservation.objects.using(DB).all()
        if status is not None:
            rows = rows.filter(status=status)
        if ids is not None:
            rows = rows.filter(pk__in=[str(value) for value in ids])
        if keys is not None:
            rows = rows.filter(key__in=list(keys))
        return [reservation_info(row) for row in rows.order_by("created_at")]


def reservation_by_key(*, tenant_id: uuid.UUID, key: str) -> ReservationInfo | None:
    with tenant_context(tenant_id):
        row = Reservation.objects.using(DB).filter(key=key).first()
    return reservation_info(row) if row is not None else None
