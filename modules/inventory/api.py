"""The inventory module's front door for other modules: plain functions, DTOs only.

Every function takes the tenant explicitly (`tenant_id`, a uuid.UUID) and is keyword-only. Errors are
DomainError subclasses re-exported here, so callers never import inventory internals."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pos.money import Money

from . import demo as _demo
from . import selectors as _selectors
from . import services as _services
from .dto import (
    CatalogPage,
    CategoryInfo,
    ImportResult,
    MovementInfo,
    OptionChoiceInfo,
    OptionGroupInfo,
    ProductInfo,
    ReservationInfo,
    StockLevelInfo,
    StockLine,
    VariantInfo,
)
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

__all__ = [
    "CatalogPage",
    "CategoryInfo",
    "CategoryNotFound",
    "CountBelowReserved",
    "ImportResult",
    "InsufficientStock",
    "InvalidProduct",
    "InvalidQuantity",
    "MovementInfo",
    "OptionChoiceInfo",
    "OptionGroupInfo",
    "ProductExists",
    "ProductInfo",
    "ProductNotFound",
    "ReservationInfo",
    "ReservationKeyConflict",
    "ReservationNotActive",
    "ReservationNotFound",
    "StaleVersion",
    "StockKeyConflict",
    "StockLevelInfo",
    "StockLine",
    "VariantInfo",
    "VariantNotFound",
    "VariantRequired",
    "adjust_stock",
    "cancel_reservation",
    "commit_reservation",
    "count_stock",
    "create_category",
    "create_product",
    "find_reservation",
    "get_product",
    "get_products",
    "get_reservation",
    "get_stock_levels",
    "import_categories",
    "import_products",
    "ledger_disagreements",
    "list_catalog",
    "list_categories",
    "list_movements",
    "list_reservations",
    "list_stock_levels",
    "reduce_reservation",
    "release_reservation",
    "reserve_stock",
    "search_products",
    "seed_demo_catalog",
    "sell_stock",
    "update_product",
]


# --- Catalog reads -------------------------------------------------------------------------------

def get_products(*, tenant_id: uuid.UUID, product_ids: list[str]) -> dict[str, ProductInfo]:
    """Products by id, in one call (a constant two round trips whatever the number of ids: the products with
    their stock, then their categories), with variants, option groups and current stock. Ids that do not exist
    for this tenant are absent from the result. Raises nothing for unknown ids. Inside a unit of work
    (`pos.memo.memo_scope`, an order placement) selling these products next does not read them again."""
    return _selectors.products_get(tenant_id=tenant_id, product_ids=product_ids)


def get_product(*, tenant_id: uuid.UUID, product_id: str) -> ProductInfo:
    """One product. Raises ProductNotFound (404), also for another tenant's product."""
    return _selectors.product_get(tenant_id=tenant_id, product_id=product_id)


def list_catalog(*, tenant_id: uuid.UUID, category_id: str | None = None, active: bool | None = None,
                 query: str | None = None, limit: int = 50, offset: int = 0) -> CatalogPage:
    """A page of the catalog in display order (position, id): `total` matching products and up to `limit`
    (1-200) of them from `offset`. `query` matches a name of the product or its variants in any locale,
    case-insensitively. Queries are constant in the page size."""
    return _selectors.catalog_list(tenant_id=tenant_id, category_id=category_id, active=active, query=query,
                                   limit=limit, offset=offset)


def search_products(*, tenant_id: uuid.UUID, query: str, limit: int = 20) -> list[ProductInfo]:
    """Products whose name (any locale) or id contains `query`, for pickers. Empty query: empty list."""
    return _selectors.products_search(tenant_id=tenant_id, query=query, limit=limit)


def list_categories(*, tenant_id: uuid.UUID, active: bool | None = None) -> list[CategoryInfo]:
    """The tenant's categories in display order."""
    return _selectors.categories_list(tenant_id=tenant_id, active=active)


# --- Catalog writes ------------------------------------------------------------------------------

def create_category(*, tenant_id: uuid.UUID, names: dict[str, str], category_id: str | None = None,
                    position: int = 0) -> CategoryInfo:
    """Create a category; `names` must cover every locale of the tenant.
    Raises InvalidProduct (400), ProductExists (409, id taken)."""
    return _services.category_create(tenant_id=tenant_id, names=names, category_id=category_id, position=position)


def create_product(*, tenant_id: uuid.UUID, names: dict[str, str], price: Money | int, product_id: str | None = None,
                   category_id: str | None = None, descriptions: dict[str, str] | None = None,
                   variants: list[dict] | None = None, option_groups: list[dict] | None = None,
                   attributes: dict | None = None, is_active: bool = True, track_stock: bool = True,
                   position: int = 0, threshold: int = 5) -> ProductInfo:
    """Create a product document and its stock items (one per variant, or one for the product), at zero.
    Publishes inventory.product_updated. Raises InvalidProduct (400, every problem listed), CategoryNotFound
    (404), ProductExists (409)."""
    return _services.product_create(tenant_id=tenant_id, names=names, price=price, product_id=product_id,
                                    category_id=category_id, descriptions=descriptions, variants=variants,
                                    option_groups=option_groups, attributes=attributes, is_active=is_active,
                                    track_stock=track_stock, position=position, threshold=threshold)


def update_product(*, tenant_id: uuid.UUID, product_id: str, expected_version: int,
                   changes: dict[str, Any]) -> ProductInfo:
    """Apply `changes` if the product is still at `expected_version`; the version then grows by one.
    Publishes inventory.product_updated with the changed field names. Raises StaleVersion (409, nothing
    applied), ProductNotFound (404), InvalidProduct (400), CategoryNotFound (404)."""
    return _services.product_update(tenant_id=tenant_id, product_id=product_id, expected_version=expected_version,
                                    changes=changes)


# --- Batched imports (catalog imports, legacy splits) --------------------------------------------

def import_categories(*, tenant_id: uuid.UUID, categories: list[dict[str, Any]]) -> ImportResult:
    """Create many categories in one transaction (one INSERT). Each entry: `id` (required: the caller's natural
    key), `names` (every locale of the tenant), optional `position`, `is_active`. Idempotent by id: an id this
    restaurant already holds is reported in `existing` and left unchanged; an id only another restaurant holds is
    prefixed as in create_category (see `ImportResult.ids`). Raises InvalidProduct (400, every problem of every
    entry listed as `categories[i].field`; nothing written)."""
    return _services.categories_import(tenant_id=tenant_id, categories=categories)


def import_products(*, tenant_id: uuid.UUID, products: list[dict[str, Any]], actor: str,
                    reason: str = "opening stock") -> ImportResult:
    """Create many products with their opening stock in one inventory transaction and a constant number of
    statements whatever the batch size: products, stock items and ledger rows by bulk INSERT, and their events
    (`inventory.product_updated` per product, `inventory.stock_changed` per stocked item) by one outbox INSERT.
    The ledger agrees with the levels: each opening quantity is a `receive` movement (sequence 1) by `actor`
    with `reason`.

    Each entry is a create_product document with a required `id` (the caller's natural key), plus `threshold`
    (default 5) and `opening_stock`: a whole number for a product without variants, or {variant key: number};
    0 or absent for none. `category_id` must be an id this restaurant holds (as returned by import_categories).
    Idempotent by id: an id this restaurant already holds is reported in `existing` and neither changed nor
    restocked, so a repeated batch adds nothing. Raises InvalidProduct (400, every problem of every entry listed
    as `products[i].field`), CategoryNotFound (404, extra category_ids); in both cases nothing is written."""
    return _services.products_import(tenant_id=tenant_id, products=products, actor=actor, reason=reason)


# --- Stock ---------------------------------------------------------------------------------------

def get_stock_levels(*, tenant_id: uuid.UUID, items: list[tuple[str, str | None]]
                     ) -> dict[tuple[str, str | None], StockLevelInfo]:
    """Current levels of (product_id, variant) pairs (variant None = product level), in one query.
    Untracked or unknown pairs are absent."""
    return _selectors.stock_levels_get(tenant_id=tenant_id, items=items)


def list_stock_levels(*, tenant_id: uuid.UUID) -> list[StockLevelInfo]:
    """Every tracked stock item of the tenant (product and variant levels with their sequence), in one query."""
    return _selectors.stock_levels_all(tenant_id=tenant_id)


def list_movements(*, tenant_id: uuid.UUID, kinds: list[str] | None = None, references: list[str] | None = None,
                   created_from: datetime | None = None, created_to: datetime | None = None) -> list[MovementInfo]:
    """The tenant's stock ledger rows, oldest first, in one query: by kind (receive, sale, waste, count,
    reservation, release, return), by reference (a reservation id for reservation/sale/release rows, the
    caller's key for adjustments) and creation time (from inclusive, to exclusive)."""
    return _selectors.movements_list(tenant_id=tenant_id, kinds=kinds, references=references,
                                     created_from=created_from, created_to=created_to)


def ledger_disagreements(*, tenant_id: uuid.UUID | None = None) -> list[dict]:
    """Stock items whose on-hand or reserved level differs from the sum of their ledger (one tenant, or all
    tenants when None): [{tenant_id, product_id, variant, on_hand, reserved, ledger_on_hand, ledger_reserved}]."""
    return _selectors.ledger_disagreements(tenant_id=tenant_id)[1]


def adjust_stock(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, kind: str, quantity: int, reason: str,
                 actor: str, key: str | None = None) -> StockLevelInfo:
    """Receive, write off (waste) or take back (return) `quantity` (> 0) of a product or variant, recorded in
    the ledger and published as inventory.stock_changed. Idempotent by `key`: the same key and adjustment
    applies once and answers the current level. Raises InvalidQuantity (400), ProductNotFound /
    VariantNotFound (404), VariantRequired (400), InsufficientStock (409, waste beyond what is available),
    StockKeyConflict (422, same key for a different adjustment)."""
    return _services.stock_adjust(tenant_id=tenant_id, product_id=product_id, variant=variant, kind=kind,
                                  quantity=quantity, reason=reason, actor=actor, key=key)


def count_stock(*, tenant_id: uuid.UUID, product_id: str, variant: str | None, counted: int, actor: str,
                reason: str = "") -> StockLevelInfo:
    """Set on-hand to a physical count; the difference is recorded as a count correction and published.
    Raises InvalidQuantity (400), ProductNotFound / VariantNotFound (404), CountBelowReserved (409)."""
    return _services.stock_count(tenant_id=tenant_id, product_id=product_id, variant=variant, counted=counted,
                                 actor=actor, reason=reason)


def set_stock_threshold(*, tenant_id: uuid.UUID, product_id: str, variant: str | None,
                        threshold: int) -> StockLevelInfo:
    """Set the low-stock threshold of a product or variant. Raises InvalidQuantity, ProductNotFound."""
    return _services.stock_set_threshold(tenant_id=tenant_id, product_id=product_id, variant=variant,
                                         threshold=threshold)


# --- Reservations (the order saga) ---------------------------------------------------------------

def reserve_stock(*, tenant_id: uuid.UUID, lines: list[StockLine], key: str,
                  ttl_seconds: int | None = None) -> ReservationInfo:
    """Hold stock for every line, or for none. Idempotent by `key`: the same key returns the same reservation
    and holds nothing more (any status). Expires after `ttl_seconds` (default INVENTORY_RESERVATION_TTL_SECONDS,
    15 minutes); a periodic task then releases it. Never oversells under concurrency. Untracked products are
    accepted without holding stock; inactive or sold-out products count as 0 available.
    Raises InsufficientStock (409, extra lines=[{product_id, variant, requested, available}]), ProductNotFound
    (404; also VariantNotFound), VariantRequired (400), InvalidQuantity (400), ReservationKeyConflict (422,
    same key with different lines)."""
    return _services.reservation_reserve(tenant_id=tenant_id, lines=lines, key=key, ttl_seconds=ttl_seconds)


def sell_stock(*, tenant_id: uuid.UUID, lines: list[StockLine], key: str) -> ReservationInfo:
    """Take every line's stock as sold, at once, or none of it: a reservation made `committed` in one transaction
    (`sale` ledger rows referencing it, on-hand drops), for a sale paid right after (an order being placed), so
    no second call is needed to commit it. Idempotent by `key` like `reserve_stock`: the same key returns the
    same reservation (whatever its status, also one an earlier `reserve_stock` holds) and takes nothing more.
    Never oversells: a line is sold only from what is available (on hand less reserved). Undone whole by
    `cancel_reservation` (`returned`). Raises as `reserve_stock`."""
    return _services.reservation_reserve(tenant_id=tenant_id, lines=lines, key=key, sell=True)


def release_reservation(*, tenant_id: uuid.UUID, reservation_id: str) -> ReservationInfo:
    """Give the held stock back. Idempotent: releasing a released or expired reservation returns it unchanged.
    Raises ReservationNotActive (409) for a committed one, ReservationNotFound (404)."""
    return _services.reservation_release(tenant_id=tenant_id, reservation_id=reservation_id)


def commit_reservation(*, tenant_id: uuid.UUID, reservation_id: str) -> ReservationInfo:
    """Turn the held stock into a sale (on-hand and reserved both drop). Idempotent: committing a committed
    reservation returns it unchanged. Allowed while active, even past expires_at if the sweep has not run yet.
    Raises ReservationNotActive (409) for a released or expired one, ReservationNotFound (404)."""
    return _services.reservation_commit(tenant_id=tenant_id, reservation_id=reservation_id)


def reduce_reservation(*, tenant_id: uuid.UUID, reservation_id: str, product_id: str, variant: str | None,
                       quantity: int, key: str, write_off: bool, reason: str, actor: str = "") -> ReservationInfo:
    """Take `quantity` of one line out of an active reservation (a voided item): released back to what can
    be sold, or, with `write_off` (the food was made), taken out of stock as waste in the ledger. Committing or
    releasing the reservation later moves only what is left. Idempotent by `key`: the same key has one effect.
    Raises ReservationNotFound (404), ReservationNotActive (409: committed, released or expired),
    InvalidQuantity (400: not a positive integer, or more than the line still holds)."""
    return _services.reservation_reduce(tenant_id=tenant_id, reservation_id=reservation_id, product_id=product_id,
                                        variant=variant, quantity=quantity, key=key, write_off=write_off,
                                        reason=reason, actor=actor)


def cancel_reservation(*, tenant_id: uuid.UUID, reservation_id: str) -> ReservationInfo:
    """Undo a reservation whatever became of it, once: active -> released (held stock freed), committed ->
    returned (the sold stock back on hand, `return` ledger rows referencing the reservation), released, expired
    or returned -> unchanged. For compensating an order that was not completed, even when it is unknown whether
    the commit went through. Raises ReservationNotFound (404)."""
    return _services.reservation_cancel(tenant_id=tenant_id, reservation_id=reservation_id, actor="pos_core.saga")


def get_reservation(*, tenant_id: uuid.UUID, reservation_id: str) -> ReservationInfo:
    """One reservation. Raises ReservationNotFound (404)."""
    return _selectors.reservation_get(tenant_id=tenant_id, reservation_id=reservation_id)


def find_reservation(*, tenant_id: uuid.UUID, key: str) -> ReservationInfo | None:
    """The reservation made with `key` (any status), or None if nothing was ever reserved with it. Lets a
    caller learn what a lost call did without reserving anything."""
    return _selectors.reservation_by_key(tenant_id=tenant_id, key=key)


def list_reservations(*, tenant_id: uuid.UUID, status: str | None = None, ids: list[str] | None = None,
                      keys: list[str] | None = None) -> list[ReservationInfo]:
    """The tenant's reservations, oldest first, filtered by status (active, committed, released, expired),
    ids and/or keys, in one query."""
    return _selectors.reservations_list(tenant_id=tenant_id, status=status, ids=ids, keys=keys)


def expire_reservations() -> int:
    """Release every active reservation past its expiry, across tenants (system work). Returns the count."""
    return _services.reservations_expire_due()


# --- Demo data -----------------------------------------------------------------------------------

def seed_demo_catalog(*, tenant_id: uuid.UUID) -> str:
    """Create (once) a bilingual Yangon noodle-shop catalog with stock received through the ledger.
    Idempotent: a second run changes nothing. Returns a one-line summary."""
    return _demo.seed_demo_catalog(tenant_id=tenant_id)
