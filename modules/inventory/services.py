"""Writes of the inventory module: one transaction in its own database each, events published inside it.

Stock never oversells: every change is a conditional atomic UPDATE with F() expressions (the WHERE clause
re-checks availability on the locked row, so concurrent reservations serialise on the row and the loser
updates nothing). Every change appends a movement to the ledger and publishes inventory.stock_changed."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, connections, transaction
from django.db.models import F
from django.utils import timezone

from modules.accounts import api as accounts
from pos.contracts.inventory import ProductUpdated, StockChanged
from pos.db import executed
from pos.db.bulk import insert_together
from pos.db.hot import rows_where, update_where
from pos.db.returning import columns, from_row, update_returning
from pos.errors import DomainError
from pos.events import publish, publish_many
from pos.memo import recall
from pos.money import Money
from pos.numbers import is_integer
from pos.tenancy import all_tenants, current_tenant_id, tenant_context

from . import conf
from .documents import (
    Problems,
    clean_amount,
    clean_attributes,
    clean_id,
    clean_names,
    clean_option_groups,
    clean_quantity,
    clean_variants,
    search_text,
)
from .dto import CategoryInfo, ImportResult, ProductInfo, ReservationInfo, StockLevelInfo, StockLine
from .errors import (
    CategoryNotFound,
    CountBelowReserved,
    InsufficientStock,
    InvalidProduct,
    InvalidQuantity,
    ProductExists,
    ProductNotFound,
    ReservationKeyConflict,
    ReservationNotActive,
    ReservationNotFound,
    StaleVersion,
    StockKeyConflict,
    VariantNotFound,
    VariantRequired,
)
from .models import AdjustmentKey, Category, Movement, Product, Reservation, StockItem
from .selectors import category_info, product_get, product_memo_key, reservation_info, stock_level_info

DB = "inventory"
Kind = Movement.Kind
ADJUSTMENT_KINDS = {"receive": Kind.RECEIVE, "waste": Kind.WASTE, "return": Kind.RETURN}


def _as_uuid(tenant_id: uuid.UUID | str) -> uuid.UUID:
    return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


@contextlib.contextmanager
def _atomic() -> Iterator[None]:
    """transaction.atomic(using="inventory"); on MongoDB also a MongoDB transaction, which Django's atomic()
    does not open there (django-mongodb-backend provides its own; it needs a replica set)."""
    with transaction.atomic(using=DB):
        if connections[DB].vendor == "mongodb":
            from django_mongodb_backend.transaction import atomic as mongodb_atomic

            with mongodb_atomic(using=DB):
                yield
        else:
            yield


# --- Catalog ---------------------------------------------------------------------------------------

def _tenant(tenant_id: uuid.UUID):
    return accounts.get_tenant(tenant_id)


def _own_id(model, requested: str, tenant_id: uuid.UUID, kind: str) -> str:
    """Ids are unique across restaurants. A requested id this restaurant already uses is a conflict; one that
    only another restaurant uses is prefixed with this restaurant's own prefix, so a restaurant can pick the id
    it wants and never learns which ids other restaurants hold."""
    candidates = [requested, f"{tenant_id.hex[:8]}-{requested}"[:64], f"{tenant_id.hex}-{requested}"[:64]]
    owners = dict(model.unscoped.using(DB).filter(pk__in=candidates).values_list("pk", "tenant_id"))
    if owners.get(requested) == tenant_id:
        raise ProductExists(f"{kind.capitalize()} id {requested!r} is taken.", **{f"{kind}_id": requested})
    for candidate in candidates:
        if candidate not in owners:
            return candidate
        if owners[candidate] == tenant_id:
            raise ProductExists(f"{kind.capitalize()} id {requested!r} is taken.", **{f"{kind}_id": requested})
    return uuid.uuid4().hex


def product_id_check(*, tenant_id: uuid.UUID | str, product_id: str) -> None:
    """Raises ProductExists when this restaurant already uses `product_id` (another restaurant's use never counts):
    forms ask before they save, so a taken id is a field error and the form is kept."""
    _own_id(Product, product_id, uuid.UUID(str(tenant_id)), "product")


def category_create(*, tenant_id: uuid.UUID, names: dict[str, str], category_id: str | None = None,
                    position: int = 0, is_active: bool = True) -> CategoryInfo:
    tenant_id = _as_uuid(tenant_id)
    tenant = _tenant(tenant_id)
    problems = Problems()
    cid = clean_id(category_id, "id", problems) if category_id is not None else uuid.uuid4().hex
    cleaned = clean_names(names, "names", tenant.locales, problems)
    if not is_integer(position):
        problems.add("position", "A whole number.")
    problems.raise_if_any("category")
    with _atomic(), tenant_context(tenant_id):
        cid = _own_id(Category, cid, tenant_id, "category")
        category = Category(id=cid, tenant_id=tenant_id, names=cleaned, position=position, is_active=is_active)
        category.save(using=DB, force_insert=True)
    return category_info(category)


def category_update(*, tenant_id: uuid.UUID, category_id: str, names: dict[str, str] | None = None,
                    position: int | None = None, is_active: bool | None = None) -> CategoryInfo:
    tenant_id = _as_uuid(tenant_id)
    tenant = _tenant(tenant_id)
    with _atomic(), tenant_context(tenant_id):
        try:
            category = Category.objects.using(DB).get(pk=category_id)
        except Category.DoesNotExist:
            raise CategoryNotFound(f"No category {category_id!r}.", category_id=category_id) from None
        problems = Problems()
        if names is not None:
            category.names = clean_names(names, "names", tenant.locales, problems)
        if position is not None:
            if not is_integer(position):
                problems.add("position", "A whole number.")
            category.position = position
        if is_active is not None:
            category.is_active = bool(is_active)
        problems.raise_if_any("category")
        category.save(using=DB)
    return category_info(category)


PRODUCT_FIELDS = ("names", "descriptions", "category_id", "price", "variants", "option_groups", "attributes",
                  "is_active", "is_sold_out", "track_stock", "position")


def clean_product(*, tenant_id: uuid.UUID, document: dict[str, Any], product_id: str) -> dict[str, Any]:
    """Validate a whole product document against the tenant's locales and currency; returns model fields.
    Raises InvalidProduct listing every problem, CategoryNotFound for an unknown category."""
    tenant = _tenant(tenant_id)
    problems = Problems()
    fields = _document_fields(tenant=tenant, document=document, product_id=product_id, problems=problems)
    problems.raise_if_any()
    category_id = fields["category_id"]
    if category_id is not None:
        with tenant_context(tenant_id):
            if not Category.objects.using(DB).filter(pk=category_id).exists():
                raise CategoryNotFound(f"No category {category_id!r}.", category_id=category_id)
    return fields


def _document_fields(*, tenant, document: dict[str, Any], product_id: str, problems: Problems,
                     prefix: str = "") -> dict[str, Any]:
    """The model fields of a product document, every problem added to `problems` (field names after `prefix`).
    Pure: no query (the category's existence is the caller's check)."""
    field_problems = Problems()
    locales = tuple(tenant.locales)
    names = clean_names(document.get("names"), "names", locales, field_problems)
    descriptions = clean_names(document.get("descriptions") or {}, "descriptions", locales, field_problems,
                               required=False, limit=2000)
    price = clean_amount(document.get("price"), "price", tenant.currency, field_problems)
    variants = clean_variants(document.get("variants"), locales, tenant.currency, field_problems)
    option_groups = clean_option_groups(document.get("option_groups"), "option_groups", locales, tenant.currency,
                                        field_problems)
    attributes = clean_attributes(document.get("attributes"), field_problems)
    flags = {}
    for flag, default in (("is_active", True), ("is_sold_out", False), ("track_stock", True)):
        value = document.get(flag, default)
        if not isinstance(value, bool):
            field_problems.add(flag, "true or false.")
        flags[flag] = value
    position = document.get("position", 0)
    if not is_integer(position):
        field_problems.add("position", "A whole number.")
    category_id = document.get("category_id") or None
    if category_id is not None and not isinstance(category_id, str):
        field_problems.add("category_id", "A category id.")
    for problem in field_problems.errors:
        problems.add(prefix + problem["field"], problem["message"])
    return {
        "names": names, "descriptions": descriptions, "category_id": category_id, "price_amount": price,
        "price_currency": tenant.currency, "variants": variants, "option_groups": option_groups,
        "attributes": attributes, "position": position, **flags,
        "search_text": search_text(product_id=product_id, names=names, variants=variants),
    }


def _ensure_stock_items(*, tenant_id: uuid.UUID, product: Product, threshold: int) -> None:
    if not product.track_stock:
        return
    keys = [v["key"] for v in product.variants] or [StockItem.PRODUCT_LEVEL]
    existing = set(StockItem.objects.using(DB).filter(product_id=product.id).values_list("variant", flat=True))
    missing = [StockItem(tenant_id=tenant_id, product_id=product.id, variant=key, threshold=threshold)
               for key in keys if key not in existing]
    if missing:
        StockItem.objects.using(DB).bulk_create(missing)


def product_create(*, tenant_id: uuid.UUID, names: dict[str, str], price: Money | int, product_id: str | None = None,
                   category_id: str | None = None, descriptions: dict[str, str] | None = None,
                   variants: list[dict] | None = None, option_groups: list[dict] | None = None,
                   attributes: dict | None = None, is_active: bool = True, is_sold_out: bool = False,
                   track_stock: bool = True, position: int = 0, threshold: int = 5) -> ProductInfo:
    tenant_id = _as_uuid(tenant_id)
    problems = Problems()
    pid = clean_id(product_id, "id", problems) if product_id is not None else uuid.uuid4().hex
    if not is_integer(threshold) or threshold < 0:
        problems.add("threshold", "A whole number, 0 or more.")
    problems.raise_if_any()
    fields = clean_product(tenant_id=tenant_id, product_id=pid, document={
        "names": names, "price": price, "category_id": category_id, "descriptions": descriptions,
        "variants": variants, "option_groups": option_groups, "attributes": attributes, "is_active": is_active,
        "is_sold_out": is_sold_out, "track_stock": track_stock, "position": position,
    })
    with _atomic(), tenant_context(tenant_id):
        pid = _own_id(Product, pid, tenant_id, "product")
        fields["search_text"] = search_text(product_id=pid, names=fields["names"], variants=fields["variants"])
        product = Product(id=pid, tenant_id=tenant_id, version=1, **fields)
        product.save(using=DB, force_insert=True)
        _ensure_stock_items(tenant_id=tenant_id, product=product, threshold=threshold)
        publish(ProductUpdated(product_id=pid, version=1, is_active=product.is_active,
                               is_sold_out=product.is_sold_out, changed=["created"]), tenant_id=tenant_id, using=DB)
    return product_get(tenant_id=tenant_id, product_id=pid)


def product_update(*, tenant_id: uuid.UUID, product_id: str, expected_version: int, changes: dict[str, Any],
                   threshold: int = 5) -> ProductInfo:
    """Apply `changes` (any of PRODUCT_FIELDS) if the product is still at `expected_version`.
    Raises StaleVersion (409) when someone else changed it first, nothing applied."""
    tenant_id = _as_uuid(tenant_id)
    unknown = sorted(set(changes) - set(PRODUCT_FIELDS))
    if unknown:
        raise InvalidProduct(f"Unknown field(s): {', '.join(unknown)}.",
                             errors=[{"field": name, "message": "Unknown field."} for name in unknown])
    if not is_integer(expected_version):
        raise InvalidProduct("version must be a whole number.", errors=[{"field": "version", "message": "Required."}])
    with tenant_context(tenant_id):
        try:
            current = Product.objects.using(DB).get(pk=product_id)
        except Product.DoesNotExist:
            raise ProductNotFound(f"No product {product_id!r}.", product_id=product_id) from None
    if current.version != expected_version:
        raise StaleVersion(f"Product {product_id!r} is at version {current.version}, not {expected_version}.",
                           product_id=product_id, current_version=current.version)
    document = {
        "names": current.names, "descriptions": current.descriptions, "category_id": current.category_id,
        "price": current.price_amount, "variants": current.variants, "option_groups": current.option_groups,
        "attributes": current.attributes, "is_active": current.is_active, "is_sold_out": current.is_sold_out,
        "track_stock": current.track_stock, "position": current.position,
    }
    document.update(changes)
    fields = clean_product(tenant_id=tenant_id, product_id=product_id, document=document)
    changed = [name for name, value in fields.items()
               if name not in ("search_text", "price_currency") and getattr(current, name) != value]
    changed = sorted({"price" if name == "price_amount" else name for name in changed})
    if not changed:
        return product_get(tenant_id=tenant_id, product_id=product_id)
    with _atomic(), tenant_context(tenant_id):
        updated = Product.objects.using(DB).filter(pk=product_id, version=expected_version).update(
            **fields, version=F("version") + 1, updated_at=timezone.now())
        if not updated:
            raise StaleVersion(f"Product {product_id!r} was changed by someone else; reload it.",
                               product_id=product_id)
        product = Product.objects.using(DB).get(pk=product_id)
        _ensure_stock_items(tenant_id=tenant_id, product=product, threshold=threshold)
        publish(ProductUpdated(product_id=product_id, version=product.version, is_active=product.is_active,
                               is_sold_out=product.is_sold_out, changed=changed), tenant_id=tenant_id, using=DB)
    return product_get(tenant_id=tenant_id, product_id=product_id)


# --- Stock -----------------------------------------------------------------------------------------

def _stock_key(product: Product, variant: str | None) -> str:
    """The stock item key of a line, after checking the product has that variant."""
    keys = [v["key"] for v in product.variants]
    if variant in (None, ""):
        if keys:
            raise VariantRequired(f"Product {product.id!r} is stocked per variant: one of {', '.join(keys)}.",
                                  product_id=product.id, variants=keys)
        return StockItem.PRODUCT_LEVEL
    if variant not in keys:
        raise VariantNotFound(f"Product {product.id!r} has no variant {variant!r}.", product_id=product.id,
                              variant=variant, variants=keys)
    return variant


def _load_products(product_ids: Iterable[str], tenant_id: uuid.UUID | None = None) -> dict[str, Product]:
    """The products by id; with `tenant_id`, those read already in this unit of work (an order placement priced
    them moments ago: `selectors.products_get`) are not read again."""
    ids = set(product_ids)
    if tenant_id is not None:
        remembered = {pid: recall(product_memo_key(tenant_id, pid)) for pid in ids}
        if all(remembered.values()):
            return remembered  # type: ignore[return-value]
    return {p.id: p for p in rows_where(Product, using=DB, id__in=ids)}


def _product(product_id: str) -> Product:
    try:
        return Product.objects.using(DB).get(pk=product_id)
    except (Product.DoesNotExist, ValueError):
        raise ProductNotFound(f"No product {product_id!r}.", product_id=product_id) from None


def _change(*, tenant_id: uuid.UUID, product_id: str, variant: str, kind: str, quantity: int, on_hand_delta: int = 0,
            reserved_delta: int = 0, need_available: int | None = None, reason: str = "", actor: str = "",
            reference: str = "", ledger: list[dict[str, Any]] | None = None) -> StockItem | None:
    """One conditional UPDATE of a stock item (answering the row as updated), then its ledger row and its event.
    Returns None (nothing written) when the condition fails: not enough available, or not enough reserved to
    take back. With `ledger`, the ledger row and event are collected there for `_record_all` (one INSERT for
    the rows and one outbox write for the events of several changes in one transaction)."""
    entries: list[dict[str, Any]] = [] if ledger is None else ledger
    (item,) = _change_all(tenant_id=tenant_id, ledger=entries, changes=[{
        "product_id": product_id, "variant": variant, "kind": kind, "quantity": quantity,
        "on_hand_delta": on_hand_delta, "reserved_delta": reserved_delta, "need_available": need_available,
        "reason": reason, "actor": actor, "reference": reference}])
    if item is not None and ledger is None:
        _record_all(tenant_id=tenant_id, entries=entries)
    return item


def _change_all(*, tenant_id: uuid.UUID, changes: list[dict[str, Any]],
                ledger: list[dict[str, Any]]) -> list[StockItem | None]:
    """Several `_change`s (keyword arguments each) in the caller's transaction, their ledger rows and events
    collected in `ledger`: on PostgreSQL one statement for all of them, whatever their number (the rows are
    locked in (product, variant) order first, so concurrent multi-line changes never deadlock); elsewhere one
    UPDATE each. Returns, per change, the stock item as updated, or None where its condition failed (that one
    not written: the caller raises, rolling the transaction back)."""
    if connections[DB].vendor == "postgresql":
        updated = _update_stock(changes)
    else:
        updated = {}
        for change in changes:
            if (item := _update_one(**change)) is not None:
                updated[(item.product_id, item.variant)] = item
    result = []
    for change in changes:
        item = updated.get((change["product_id"], change["variant"]))
        result.append(item)
        if item is not None:
            ledger.append(_ledger_entry(item, **change))
    return result


def _update_one(*, product_id: str, variant: str, on_hand_delta: int = 0, reserved_delta: int = 0,
                need_available: int | None = None, **_change: Any) -> StockItem | None:
    """One stock item's conditional UPDATE by the ORM (SQLite, which serialises writers), answering it as
    updated, or None where its condition failed."""
    rows = StockItem.objects.using(DB).filter(product_id=product_id, variant=variant)
    if need_available is not None:
        rows = rows.filter(on_hand__gte=F("reserved") + need_available)
    if on_hand_delta < 0:
        rows = rows.filter(on_hand__gte=-on_hand_delta)
    if reserved_delta < 0:
        rows = rows.filter(reserved__gte=-reserved_delta)
    return update_returning(rows, {"product_id": product_id, "variant": variant},
                            on_hand=F("on_hand") + on_hand_delta, reserved=F("reserved") + reserved_delta,
                            sequence=F("sequence") + 1, updated_at=timezone.now())


def _ledger_entry(item: StockItem, *, kind: str, quantity: int, on_hand_delta: int = 0, reserved_delta: int = 0,
                  reason: str = "", actor: str = "", reference: str = "", **_change: Any) -> dict[str, Any]:
    """What `_record_all` writes of one change: its ledger row and event, from the item as updated."""
    return {"item": item, "kind": kind, "quantity": quantity, "on_hand_delta": on_hand_delta,
            "reserved_delta": reserved_delta, "reason": reason, "actor": actor, "reference": reference}


def _update_stock(changes: list[dict[str, Any]]) -> dict[tuple[str, str], StockItem]:
    """The stock items' conditional UPDATE, one written statement for every change (PostgreSQL; no compiling,
    however many): each (product, variant) as updated, absent where its condition failed."""
    if not changes:
        return {}
    connection = connections[DB]
    quote = connection.ops.quote_name
    table = quote(StockItem._meta.db_table)
    values, params = [], []
    for change in changes:
        values.append("(%s, %s, %s::integer, %s::integer, %s::integer)")
        params += [change["product_id"], change["variant"], change.get("on_hand_delta", 0),
                   change.get("reserved_delta", 0), change.get("need_available")]
    # The scope's tenant, as the tenant-scoped manager filters every query (raw SQL states it itself).
    scope = current_tenant_id()
    # Identifiers come from the model and the values are parameters.
    sql = (f"WITH v (product_id, variant, on_hand_delta, reserved_delta, need) AS (VALUES {', '.join(values)}), "  # noqa: S608
           f"locked AS MATERIALIZED (SELECT s.id FROM {table} s JOIN v ON s.product_id = v.product_id "
           f"AND s.variant = v.variant WHERE s.tenant_id = %s ORDER BY s.product_id, s.variant FOR UPDATE OF s) "
           f"UPDATE {table} AS s SET on_hand = s.on_hand + v.on_hand_delta, reserved = s.reserved + v.reserved_delta, "
           f"sequence = s.sequence + 1, updated_at = %s FROM v, locked "
           f"WHERE s.id = locked.id AND s.product_id = v.product_id AND s.variant = v.variant "
           f"AND (v.need IS NULL OR s.on_hand >= s.reserved + v.need) "
           f"AND (v.on_hand_delta >= 0 OR s.on_hand >= -v.on_hand_delta) "
           f"AND (v.reserved_delta >= 0 OR s.reserved >= -v.reserved_delta) "
           f"RETURNING {columns(StockItem, DB, 's')}")
    with executed(DB, sql, [*params, scope, timezone.now()]) as cursor:
        rows = cursor.fetchall()
    return {(item.product_id, item.variant): item for item in (from_row(StockItem, row, DB) for row in rows)}


def _record(*, tenant_id: uuid.UUID, item: StockItem, kind: str, quantity: int, on_hand_delta: int,
            reserved_delta: int, reason: str, actor: str, reference: str) -> None:
    _record_all(tenant_id=tenant_id, entries=[{
        "item": item, "kind": kind, "quantity": quantity, "on_hand_delta": on_hand_delta,
        "reserved_delta": reserved_delta, "reason": reason, "actor": actor, "reference": reference}])


def _record_all(*, tenant_id: uuid.UUID, entries: list[dict[str, Any]], together: list[list[Any]] | None = None,
                commit: bool = False) -> None:
    """The ledger rows and stock_changed events of stock changes made in this transaction, written together (one
    statement on PostgreSQL) with the `together` rows (groups of new rows of one model each). `commit`: that is the
    transaction's last statement (its COMMIT may go with it: `pos.db.commits_with_last_statement`)."""
    if not entries:
        insert_together(DB, *(together or []), commit=commit)
        return
    movements = [
        Movement(tenant_id=tenant_id, product_id=e["item"].product_id, variant=e["item"].variant, kind=e["kind"],
                 quantity=e["quantity"], on_hand_delta=e["on_hand_delta"], reserved_delta=e["reserved_delta"],
                 on_hand_after=e["item"].on_hand, reserved_after=e["item"].reserved, sequence=e["item"].sequence,
                 reason=e["reason"][:200], actor=e["actor"][:200], reference=e["reference"][:100])
        for e in entries]
    events = [StockChanged(product_id=e["item"].product_id, variant=e["item"].variant or None,
                           level=e["item"].available, threshold=e["item"].threshold, reason=str(e["kind"]),
                           sequence=e["item"].sequence) for e in entries]
    if len(events) == 1:
        publish(events[0], tenant_id=tenant_id, using=DB, together=[*(together or []), movements], commit=commit)
    else:
        publish_many(events, tenant_id=tenant_id, using=DB, together=[*(together or []), movements], commit=commit)


def _item(product: Product, key: str) -> StockItem:
    if not product.track_stock:
        raise InvalidQuantity(f"Stock of product {product.id!r} is not tracked.", product_id=product.id)
    try:
        return StockItem.objects.using(DB).get(product_id=product.id, variant=key)
    except StockItem.DoesNotExist:
        raise VariantNotFound(f"Product {product.id!r} has no stock for {key or 'the product'}.",
                              product_id=product.id, variant=key or None) from None


def stock_adjust(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, kind: str, quantity: int, reason: str,
                 actor: str, key: str | None = None) -> StockLevelInfo:
    tenant_id = _as_uuid(tenant_id)
    if kind not in ADJUSTMENT_KINDS:
        raise InvalidQuantity(f"Unknown adjustment {kind!r}; use receive, waste or return.", field="kind")
    quantity = clean_quantity(quantity)
    try:
        with _atomic(), tenant_context(tenant_id):
            product = _product(product_id)
            variant_key = _stock_key(product, variant)
            if not product.track_stock:
                raise InvalidQuantity(f"Stock of product {product.id!r} is not tracked.", product_id=product.id)
            if key:
                AdjustmentKey(id=f"{tenant_id}:{key}", tenant_id=tenant_id, product_id=product_id, variant=variant_key,
                              kind=kind, quantity=quantity).save(using=DB, force_insert=True)
            sign = -1 if kind == "waste" else 1
            changed = _change(tenant_id=tenant_id, product_id=product_id, variant=variant_key,
                              kind=ADJUSTMENT_KINDS[kind], quantity=quantity, on_hand_delta=sign * quantity,
                              need_available=quantity if kind == "waste" else None, reason=reason, actor=actor,
                              reference=key or "")
            if changed is None:  # no stock item (read only now: the common case needs no read), or too little
                item = _item(product, variant_key)
                raise InsufficientStock(
                    f"Cannot write off {quantity}: only {item.available} available.",
                    lines=[{"product_id": product_id, "variant": variant_key or None, "requested": quantity,
                            "available": item.available}])
            return stock_level_info(changed)
    except IntegrityError:
        if not key:
            raise
        with tenant_context(tenant_id):
            previous = AdjustmentKey.objects.using(DB).filter(pk=f"{tenant_id}:{key}").first()
        if previous is None:
            raise
    # The key was used before: the same adjustment answers the current level, a different one is refused.
    with tenant_context(tenant_id):
        if (previous.product_id, previous.variant, previous.kind, previous.quantity) != (
                product_id, variant or "", kind, quantity):
            raise StockKeyConflict(f"Key {key!r} was used for a different adjustment.", key=key)
        return stock_level_info(StockItem.objects.using(DB).get(product_id=product_id, variant=variant or ""))


def stock_count(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, counted: int, actor: str,
                reason: str = "") -> StockLevelInfo:
    """Set on-hand to a physical count; the difference is recorded as a count correction."""
    tenant_id = _as_uuid(tenant_id)
    counted = clean_quantity(counted, "counted", allow_zero=True)
    for _attempt in range(10):
        with _atomic(), tenant_context(tenant_id):
            product = _product(product_id)
            variant_key = _stock_key(product, variant)
            item = _item(product, variant_key)
            if counted < item.reserved:
                raise CountBelowReserved(
                    f"Counted {counted} but {item.reserved} are reserved by orders being placed; count again "
                    "once they are done.", reserved=item.reserved, counted=counted)
            delta = counted - item.on_hand
            # Optimistic: apply only if nothing changed since we read (sequence unchanged).
            updated = StockItem.objects.using(DB).filter(pk=item.pk, sequence=item.sequence).update(
                on_hand=counted, sequence=F("sequence") + 1, updated_at=timezone.now())
            if not updated:
                continue
            item.refresh_from_db(using=DB)
            _record(tenant_id=tenant_id, item=item, kind=Kind.COUNT, quantity=counted, on_hand_delta=delta,
                    reserved_delta=0, reason=reason or "physical count", actor=actor, reference="")
            return stock_level_info(item)
    raise StaleVersion("The stock kept changing during the count; try again.", product_id=product_id)


def stock_set_threshold(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, threshold: int) -> StockLevelInfo:
    tenant_id = _as_uuid(tenant_id)
    threshold = clean_quantity(threshold, "threshold", allow_zero=True)
    with _atomic(), tenant_context(tenant_id):
        product = _product(product_id)
        item = _item(product, _stock_key(product, variant))
        StockItem.objects.using(DB).filter(pk=item.pk).update(threshold=threshold)
        item.refresh_from_db(using=DB)
        return stock_level_info(item)


# --- Reservations ----------------------------------------------------------------------------------

def _clean_lines(lines: Iterable[StockLine | dict]) -> list[tuple[str, str | None, int]]:
    merged: dict[tuple[str, str | None], int] = {}
    raw = list(lines)
    if not raw:
        raise InvalidQuantity("A reservation needs at least one line.", field="lines")
    for line in raw:
        if isinstance(line, dict):
            line = StockLine(product_id=line.get("product_id"), variant=line.get("variant"),
                             quantity=line.get("quantity"))
        if not isinstance(line.product_id, str) or not line.product_id:
            raise ProductNotFound(f"No product {line.product_id!r}.", product_id=str(line.product_id))
        quantity = clean_quantity(line.quantity)
        key = (line.product_id, line.variant or None)
        merged[key] = merged.get(key, 0) + quantity
    return [(pid, variant, qty) for (pid, variant), qty in merged.items()]


def _same_lines(reservation: Reservation, lines: list[tuple[str, str | None, int]]) -> bool:
    stored = sorted((line["product_id"], line.get("variant") or "", line["quantity"]) for line in reservation.lines)
    return stored == sorted((pid, variant or "", qty) for pid, variant, qty in lines)


def _existing(key: str, lines: list[tuple[str, str | None, int]]) -> ReservationInfo | None:
    found = Reservation.objects.using(DB).filter(key=key).first()
    if found is None:
        return None
    if not _same_lines(found, lines):
        raise ReservationKeyConflict(f"Key {key!r} already reserved different lines.", key=key,
                                     reservation_id=found.id)
    return reservation_info(found)


def reservation_reserve(*, tenant_id: uuid.UUID, lines: Iterable[StockLine | dict], key: str,
                        ttl_seconds: int | None = None, actor: str = "", sell: bool = False) -> ReservationInfo:
    """Hold the lines' stock (an active reservation), or with `sell` take it as sold at once (a reservation made
    committed, in the same one transaction: the guard against overselling is the same)."""
    tenant_id = _as_uuid(tenant_id)
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidQuantity("A reservation key of 1-200 characters is required.", field="key")
    cleaned = _clean_lines(lines)
    ttl = conf.reservation_ttl_seconds() if ttl_seconds is None else ttl_seconds
    if not is_integer(ttl) or ttl <= 0:
        raise InvalidQuantity("ttl_seconds must be a whole number of seconds above 0.", field="ttl_seconds")
    with tenant_context(tenant_id):
        try:
            with _atomic():
                products = _load_products((pid for pid, _, _ in cleaned), tenant_id)
                # Each line says whether it holds stock (the product was stock-tracked when reserved), so closing
                # it later moves exactly what was held, without reading the products again.
                now = timezone.now()
                reservation = Reservation(
                    tenant_id=tenant_id, key=key,
                    status=Reservation.Status.COMMITTED if sell else Reservation.Status.ACTIVE,
                    lines=[{"product_id": pid, "variant": variant, "quantity": qty,
                            "tracked": bool(products.get(pid) and products[pid].track_stock)}
                           for pid, variant, qty in cleaned],
                    expires_at=now if sell else now + timedelta(seconds=ttl), closed_at=now if sell else None)
                # Written last, with the ledger rows, the events and the COMMIT (one statement, one round trip): a
                # key used before fails it (unique), and the stock changed before it is rolled back.
                _hold(tenant_id=tenant_id, reservation=reservation, lines=cleaned, actor=actor, products=products,
                      sell=sell)
                return reservation_info(reservation)
        except (IntegrityError, DomainError):
            # A key used before (maybe at the same moment) answers with the reservation made with it, whatever
            # this attempt met first: the stock it took is gone (a retry of a sale), its product since removed.
            existing = _existing(key, cleaned)
            if existing is None:
                raise
            return existing


def _hold(*, tenant_id: uuid.UUID, reservation: Reservation, lines: list[tuple[str, str | None, int]],
          actor: str, products: dict[str, Product], sell: bool) -> None:
    resolved: list[tuple[Product, str, int]] = []
    for pid, variant, qty in lines:
        product = products.get(pid)
        if product is None:
            raise ProductNotFound(f"No product {pid!r}.", product_id=pid)
        resolved.append((product, _stock_key(product, variant), qty))
    failed = []
    ledger: list[dict[str, Any]] = []
    held_lines = []
    # A fixed order of row updates keeps concurrent multi-line reservations from deadlocking.
    for product, variant_key, qty in sorted(resolved, key=lambda r: (r[0].id, r[1])):
        if not product.is_active or product.is_sold_out:
            failed.append((product, variant_key, qty))
        elif product.track_stock:
            held_lines.append((product, variant_key, qty))
    # Held: reserved rises. Sold: on hand drops, as a commit would (same `sale` ledger row), never below what is
    # available.
    move = ({"kind": Kind.SALE, "reason": "sold to an order being placed"} if sell
            else {"kind": Kind.RESERVATION, "reason": "order being placed"})
    held = _change_all(tenant_id=tenant_id, ledger=ledger, changes=[
        {"product_id": product.id, "variant": variant_key, "quantity": qty, **move,
         **({"on_hand_delta": -qty} if sell else {"reserved_delta": qty}), "need_available": qty, "actor": actor,
         "reference": reservation.id} for product, variant_key, qty in held_lines])
    failed += [line for line, item in zip(held_lines, held, strict=True) if item is None]
    if failed:
        levels = {(s.product_id, s.variant): s for s in StockItem.objects.using(DB).filter(
            product_id__in={p.id for p, _, _ in failed})}
        report = []
        for product, variant_key, qty in failed:
            item = levels.get((product.id, variant_key))
            available = item.available if item is not None and product.is_active and not product.is_sold_out else 0
            report.append({"product_id": product.id, "variant": variant_key or None, "requested": qty,
                           "available": max(available, 0)})
        raise InsufficientStock("Not enough stock for " + ", ".join(
            f"{r['product_id']}{'/' + r['variant'] if r['variant'] else ''} ({r['available']} left)" for r in report)
            + ".", lines=report)
    _record_all(tenant_id=tenant_id, entries=ledger, together=[[reservation]], commit=True)


def _close(*, tenant_id: uuid.UUID, reservation_id: str, to: str, actor: str) -> ReservationInfo:
    tenant_id = _as_uuid(tenant_id)
    now = timezone.now()
    with _atomic(), tenant_context(tenant_id):
        # Only one of commit, release and expiry wins: the status flips from active exactly once.
        reservation = update_where(Reservation, using=DB, where={"pk": str(reservation_id),
                                                                  "status": Reservation.Status.ACTIVE},
                                   values={"status": to, "closed_at": now}, returning=True)
        if reservation is None:
            reservation = Reservation.objects.using(DB).filter(pk=str(reservation_id)).first()
            if reservation is None:
                raise ReservationNotFound(f"No reservation {reservation_id!r}.", reservation_id=str(reservation_id))
            return _already_closed(reservation, to)
        ledger: list[dict[str, Any]] = []
        lines = list(_held_lines(reservation))
        if to == Reservation.Status.COMMITTED:
            changes = [{"product_id": product_id, "variant": variant, "kind": Kind.SALE, "quantity": qty,
                        "on_hand_delta": -qty, "reserved_delta": -qty, "reason": "order placed", "actor": actor,
                        "reference": reservation.id} for product_id, variant, qty in lines]
        else:
            reason = "reservation expired" if to == Reservation.Status.EXPIRED else "order not placed"
            changes = [{"product_id": product_id, "variant": variant, "kind": Kind.RELEASE, "quantity": qty,
                        "reserved_delta": -qty, "reason": reason, "actor": actor, "reference": reservation.id}
                       for product_id, variant, qty in lines]
        for (product_id, variant, _qty), done in zip(lines, _change_all(tenant_id=tenant_id, changes=changes,
                                                                         ledger=ledger), strict=True):
            if done is None:  # the ledger and the level disagree: refuse rather than corrupt
                raise RuntimeError(f"Stock of {product_id}/{variant} does not hold reservation {reservation.id}.")
        _record_all(tenant_id=tenant_id, entries=ledger)
        return reservation_info(reservation)


def _reduced(line: dict) -> int:
    return sum(line.get("reductions", {}).values())


def _held_lines(reservation: Reservation) -> Iterator[tuple[str, str, int]]:
    """(product id, variant, units) of each line still holding stock in the reservation (stock-tracked when
    reserved; what reduce_reservation took out is not held), in a fixed order so concurrent closes lock stock rows
    alike. Reservations made before lines said whether they hold stock ask the products."""
    lines = reservation.lines
    if all("tracked" in line for line in lines):
        tracked = {line["product_id"] for line in lines if line["tracked"]}
    else:
        products = _load_products(line["product_id"] for line in lines)
        tracked = {pid for pid, product in products.items() if product.track_stock}
    for line in sorted(lines, key=lambda line: (line["product_id"], line.get("variant") or "")):
        quantity = line["quantity"] - _reduced(line)
        if line["product_id"] in tracked and quantity > 0:
            yield line["product_id"], line.get("variant") or "", quantity


def reservation_reduce(*, tenant_id: uuid.UUID, reservation_id: str, product_id: str, variant: str | None,
                       quantity: int, key: str, write_off: bool, reason: str, actor: str = "") -> ReservationInfo:
    """Take `quantity` of one line out of an active reservation: back to what can be sold, or (write_off)
    out of stock as waste. Idempotent by `key` (kept on the line)."""
    tenant_id = _as_uuid(tenant_id)
    quantity = clean_quantity(quantity)
    if not isinstance(key, str) or not key or len(key) > 200:
        raise InvalidQuantity("A key of 1-200 characters is required.", field="key")
    with _atomic(), tenant_context(tenant_id):
        rows = Reservation.objects.using(DB).filter(pk=str(reservation_id))
        if connections[DB].features.has_select_for_update:
            rows = rows.select_for_update()  # two reductions of one reservation never lose each other's line
        reservation = rows.first()
        if reservation is None:
            raise ReservationNotFound(f"No reservation {reservation_id!r}.", reservation_id=str(reservation_id))
        if any(key in line.get("reductions", {}) for line in reservation.lines):
            return reservation_info(reservation)
        if reservation.status != Reservation.Status.ACTIVE:
            raise ReservationNotActive(f"Reservation {reservation.id} is {reservation.status}.",
                                       reservation_id=reservation.id, status=reservation.status)
        line = next((line for line in reservation.lines if line["product_id"] == product_id
                     and (line.get("variant") or "") == (variant or "")), None)
        if line is None or line["quantity"] - _reduced(line) < quantity:
            held = 0 if line is None else line["quantity"] - _reduced(line)
            raise InvalidQuantity(f"Reservation {reservation.id} holds {held} of {product_id}, not {quantity}.",
                                  field="quantity", held=held)
        line.setdefault("reductions", {})[key] = quantity
        Reservation.objects.using(DB).filter(pk=reservation.pk).update(lines=reservation.lines)
        product = _load_products([product_id]).get(product_id)
        if product is not None and product.track_stock:
            variant_key = line.get("variant") or ""
            if write_off:
                done = _change(tenant_id=tenant_id, product_id=product_id, variant=variant_key, kind=Kind.WASTE,
                               quantity=quantity, on_hand_delta=-quantity, reserved_delta=-quantity, reason=reason,
                               actor=actor, reference=reservation.id)
            else:
                done = _change(tenant_id=tenant_id, product_id=product_id, variant=variant_key, kind=Kind.RELEASE,
                               quantity=quantity, reserved_delta=-quantity, reason=reason, actor=actor,
                               reference=reservation.id)
            if done is None:
                raise RuntimeError(f"Stock of {product_id}/{variant_key} does not hold reservation {reservation.id}.")
        return reservation_info(reservation)


def _already_closed(reservation: Reservation, wanted: str) -> ReservationInfo:
    status = reservation.status
    if status == wanted:
        return reservation_info(reservation)
    if wanted == Reservation.Status.COMMITTED:
        raise ReservationNotActive(f"Reservation {reservation.id} is {status}; reserve again.",
                                   reservation_id=reservation.id, status=status)
    if wanted == Reservation.Status.RELEASED and status == Reservation.Status.EXPIRED:
        return reservation_info(reservation)  # released already, by expiry
    if wanted == Reservation.Status.EXPIRED:
        return reservation_info(reservation)  # nothing to expire
    raise ReservationNotActive(f"Reservation {reservation.id} is {status} and cannot be released.",
                               reservation_id=reservation.id, status=status)


def reservation_release(*, tenant_id: uuid.UUID, reservation_id: str, actor: str = "") -> ReservationInfo:
    return _close(tenant_id=tenant_id, reservation_id=reservation_id, to=Reservation.Status.RELEASED, actor=actor)


def reservation_commit(*, tenant_id: uuid.UUID, reservation_id: str, actor: str = "") -> ReservationInfo:
    return _close(tenant_id=tenant_id, reservation_id=reservation_id, to=Reservation.Status.COMMITTED, actor=actor)


def reservation_cancel(*, tenant_id: uuid.UUID, reservation_id: str, actor: str = "") -> ReservationInfo:
    """Undo a reservation whatever became of it: an active one is released, a committed one is returned to stock
    (its sale taken back, one `return` ledger row per line referencing the reservation), a released, expired or
    returned one is left as it is. The status flips once, so concurrent calls return the stock once."""
    tenant_id = _as_uuid(tenant_id)
    with tenant_context(tenant_id):
        reservation = Reservation.objects.using(DB).filter(pk=str(reservation_id)).first()
    if reservation is None:
        raise ReservationNotFound(f"No reservation {reservation_id!r}.", reservation_id=str(reservation_id))
    if reservation.status == Reservation.Status.ACTIVE:
        try:
            return _close(tenant_id=tenant_id, reservation_id=reservation.id, to=Reservation.Status.RELEASED,
                          actor=actor)
        except ReservationNotActive:
            pass  # committed meanwhile: take the sale back below
    now = timezone.now()
    with _atomic(), tenant_context(tenant_id):
        won = Reservation.objects.using(DB).filter(pk=reservation.pk, status=Reservation.Status.COMMITTED).update(
            status=Reservation.Status.RETURNED, closed_at=now)
        reservation.refresh_from_db(using=DB)
        if not won:
            return reservation_info(reservation)
        ledger: list[dict[str, Any]] = []
        for product_id, variant, qty in _held_lines(reservation):
            done = _change(tenant_id=tenant_id, product_id=product_id, variant=variant, kind=Kind.RETURN, quantity=qty,
                           on_hand_delta=qty, reason="order not completed", actor=actor, reference=reservation.id,
                           ledger=ledger)
            if done is None:
                raise RuntimeError(f"Stock of {product_id}/{variant} could not take back reservation {reservation.id}.")
        _record_all(tenant_id=tenant_id, entries=ledger)
        return reservation_info(reservation)


def reservations_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release every active reservation past its expiry, across tenants. Returns how many expired."""
    now = now or timezone.now()
    with all_tenants():
        due = list(Reservation.objects.using(DB).filter(status=Reservation.Status.ACTIVE, expires_at__lte=now)
                   .order_by("expires_at").values_list("id", "tenant_id")[:limit])
    expired = 0
    for reservation_id, tenant_id in due:
        info = _close(tenant_id=tenant_id, reservation_id=reservation_id, to=Reservation.Status.EXPIRED,
                      actor="system:expiry")
        expired += info.status == Reservation.Status.EXPIRED
    return expired


# --- Batched imports (catalog imports, splitting a legacy database) --------------------------------
# One transaction and a constant number of statements per batch, whatever its size: rows by bulk INSERT, the
# opening stock through the ledger, every event through one outbox INSERT. Idempotent by the caller's ids.

def _resolve_ids(model, requested: list[str], tenant_id: uuid.UUID) -> tuple[dict[str, str], dict[str, str]]:
    """For each requested id, the id this restaurant already holds for it (`existing`), or the id a new row
    gets (`new`), following the same rule as `_own_id`: an id only another restaurant holds is prefixed."""
    candidates = {r: [r, f"{tenant_id.hex[:8]}-{r}"[:64], f"{tenant_id.hex}-{r}"[:64]] for r in requested}
    wanted = {c for cs in candidates.values() for c in cs}
    owners = dict(model.unscoped.using(DB).filter(pk__in=wanted).values_list("pk", "tenant_id"))
    existing: dict[str, str] = {}
    new: dict[str, str] = {}
    taken = set(owners)
    for requested_id, choices in candidates.items():
        own = next((c for c in choices if owners.get(c) == tenant_id), None)
        if own is not None:
            existing[requested_id] = own
            continue
        free = next((c for c in choices if c not in taken), None) or uuid.uuid4().hex
        taken.add(free)
        new[requested_id] = free
    return existing, new


def _batch_ids(items: list[Any], what: str, problems: Problems) -> list[str]:
    ids: list[str] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            problems.add(f"{what}[{index}]", "Each entry is an object.")
            ids.append("")
            continue
        cid = clean_id(item.get("id"), f"{what}[{index}].id", problems) or ""
        if cid in seen:
            problems.add(f"{what}[{index}].id", f"Duplicate id {cid!r} in the batch.")
        seen.add(cid)
        ids.append(cid)
    return ids


def categories_import(*, tenant_id: uuid.UUID, categories: list[dict[str, Any]]) -> ImportResult:
    tenant_id = _as_uuid(tenant_id)
    tenant = _tenant(tenant_id)
    problems = Problems()
    categories = list(categories)
    ids = _batch_ids(categories, "categories", problems)
    cleaned = []
    for index, item in enumerate(categories):
        if not isinstance(item, dict):
            continue
        at = f"categories[{index}]"
        names = clean_names(item.get("names"), f"{at}.names", tenant.locales, problems)
        position = item.get("position", 0)
        if not is_integer(position):
            problems.add(f"{at}.position", "A whole number.")
        is_active = item.get("is_active", True)
        if not isinstance(is_active, bool):
            problems.add(f"{at}.is_active", "true or false.")
        cleaned.append((ids[index], names, position, is_active))
    problems.raise_if_any("category batch")
    for _attempt in range(3):
        try:
            with _atomic(), tenant_context(tenant_id):
                existing, new = _resolve_ids(Category, ids, tenant_id)
                Category.objects.using(DB).bulk_create([
                    Category(id=new[cid], tenant_id=tenant_id, names=names, position=position, is_active=is_active)
                    for cid, names, position, is_active in cleaned if cid in new])
            break
        except IntegrityError:
            continue  # the same ids were imported at the same moment: resolve again
    else:
        raise ProductExists("The categories were being imported concurrently; retry the batch.")
    return ImportResult(ids={**existing, **new}, created=tuple(cid for cid in ids if cid in new),
                        existing=tuple(cid for cid in ids if cid in existing))


def _opening_stock(value: Any, variants: list[dict], track_stock: bool, at: str, problems: Problems) -> dict[str, int]:
    """{stock item key: quantity} from an int (product level) or {variant key: int}; every quantity >= 0."""
    if value is None or value == 0 or value == {}:
        return {}
    keys = [v.get("key") for v in variants]
    if not track_stock:
        problems.add(f"{at}.opening_stock", "This product's stock is not tracked.")
        return {}
    if is_integer(value):
        if keys:
            problems.add(f"{at}.opening_stock", "Stocked per variant: give {variant key: quantity}.")
            return {}
        value = {StockItem.PRODUCT_LEVEL: value}
    elif not isinstance(value, dict):
        problems.add(f"{at}.opening_stock", "A whole number, or {variant key: whole number}.")
        return {}
    elif not keys:
        problems.add(f"{at}.opening_stock", "This product has no variants: give a whole number.")
        return {}
    stock: dict[str, int] = {}
    for key, quantity in value.items():
        if key not in keys and key != StockItem.PRODUCT_LEVEL:
            problems.add(f"{at}.opening_stock.{key}", "No such variant.")
        elif not is_integer(quantity) or quantity < 0 or quantity > 1_000_000:
            problems.add(f"{at}.opening_stock.{key}", "A whole number from 0 to 1000000.")
        elif quantity:
            stock[key] = quantity
    return stock


def products_import(*, tenant_id: uuid.UUID, products: list[dict[str, Any]], actor: str,
                    reason: str = "opening stock") -> ImportResult:
    tenant_id = _as_uuid(tenant_id)
    tenant = _tenant(tenant_id)
    problems = Problems()
    products = list(products)
    ids = _batch_ids(products, "products", problems)
    documents: list[tuple[str, dict[str, Any], dict[str, int], int]] = []
    for index, document in enumerate(products):
        if not isinstance(document, dict):
            continue
        at = f"products[{index}]"
        fields = _document_fields(tenant=tenant, document=document, product_id=ids[index], problems=problems,
                                  prefix=f"{at}.")
        threshold = document.get("threshold", 5)
        if not is_integer(threshold) or threshold < 0:
            problems.add(f"{at}.threshold", "A whole number, 0 or more.")
        stock = _opening_stock(document.get("opening_stock"), fields["variants"], fields["track_stock"] is True, at,
                               problems)
        documents.append((ids[index], fields, stock, threshold))
    problems.raise_if_any("product batch")
    category_ids = {fields["category_id"] for _, fields, _, _ in documents if fields["category_id"]}
    with tenant_context(tenant_id):
        known = set(Category.objects.using(DB).filter(pk__in=category_ids).values_list("pk", flat=True))
    if category_ids - known:
        missing = sorted(category_ids - known)
        raise CategoryNotFound(f"No category {', '.join(map(repr, missing))}.", category_ids=missing)
    for _attempt in range(3):
        try:
            with _atomic(), tenant_context(tenant_id):
                existing, new = _resolve_ids(Product, ids, tenant_id)
                _insert_products(tenant_id=tenant_id, documents=[d for d in documents if d[0] in new], new=new,
                                 actor=actor, reason=reason)
            break
        except IntegrityError:
            continue  # the same ids were imported at the same moment: resolve again
    else:
        raise ProductExists("The products were being imported concurrently; retry the batch.")
    return ImportResult(ids={**existing, **new}, created=tuple(pid for pid in ids if pid in new),
                        existing=tuple(pid for pid in ids if pid in existing))


def _insert_products(*, tenant_id: uuid.UUID, documents: list[tuple[str, dict[str, Any], dict[str, int], int]],
                     new: dict[str, str], actor: str, reason: str) -> None:
    rows, items, movements, events = [], [], [], []
    for requested_id, fields, stock, threshold in documents:
        pid = new[requested_id]
        fields = {**fields, "search_text": search_text(product_id=pid, names=fields["names"],
                                                       variants=fields["variants"])}
        product = Product(id=pid, tenant_id=tenant_id, version=1, **fields)
        rows.append(product)
        events.append(ProductUpdated(product_id=pid, version=1, is_active=product.is_active,
                                     is_sold_out=product.is_sold_out, changed=["created"]))
        if not product.track_stock:
            continue
        for key in [v["key"] for v in product.variants] or [StockItem.PRODUCT_LEVEL]:
            quantity = stock.get(key, 0)
            items.append(StockItem(tenant_id=tenant_id, product_id=pid, variant=key, threshold=threshold,
                                   on_hand=quantity, sequence=1 if quantity else 0))
            if quantity:
                movements.append(Movement(
                    tenant_id=tenant_id, product_id=pid, variant=key, kind=Kind.RECEIVE, quantity=quantity,
                    on_hand_delta=quantity, reserved_delta=0, on_hand_after=quantity, reserved_after=0, sequence=1,
                    reason=reason[:200], actor=actor[:200], reference=f"import:{requested_id}"[:100]))
                events.append(StockChanged(product_id=pid, variant=key or None, level=quantity, threshold=threshold,
                                           reason=str(Kind.RECEIVE), sequence=1))
    # Products, stock, ledger, events and deliveries: one statement on PostgreSQL.
    publish_many(events, tenant_id=tenant_id, using=DB, together=[rows, items, movements])
