"""The restaurant module's front door for other modules: plain functions, DTOs only.

Every function is keyword-only and takes the tenant's id; nothing returned is a model instance."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from . import selectors as _selectors
from . import services as _services
from .dto import (
    ItemSpec,
    MenuInfo,
    MenuItemInfo,
    MenuItemView,
    MenuSectionInfo,
    MenuSectionView,
    MenuView,
    OptionChoiceView,
    OptionGroupView,
    SectionSpec,
    TableInfo,
    VariantView,
    WindowSpec,
)
from .errors import (
    InvalidMenuWindow,
    MenuNameTaken,
    MenuNotFound,
    MenuProductUnavailable,
    NoOpenTab,
    SameTable,
    TableCodeTaken,
    TableNotCleanable,
    TableNotFound,
    TableNotFree,
)

__all__ = [
    "InvalidMenuWindow", "ItemSpec", "MenuInfo", "MenuItemInfo", "MenuItemView", "MenuNameTaken", "MenuNotFound",
    "MenuProductUnavailable", "MenuSectionInfo", "MenuSectionView", "MenuView", "NoOpenTab", "OptionChoiceView",
    "OptionGroupView", "SameTable", "SectionSpec", "TableCodeTaken", "TableInfo", "TableNotCleanable",
    "TableNotFound", "TableNotFree", "VariantView", "WindowSpec", "add_menu_item", "add_menu_section",
    "attach_order_to_table", "available_menus", "close_tab", "create_menu", "create_table", "detach_order",
    "flag_product_items", "get_menu", "get_menu_view", "get_table", "list_menus", "list_tables", "mark_table_free",
    "merge_tables", "move_tab", "open_tab", "seed_demo_restaurant", "set_menu_windows", "validate_menu_products",
    "validate_menu_window",
]


# --- tables --------------------------------------------------------------------------------------------

def get_table(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """The table with its status and the order ids of its open tab. Raises TableNotFound (also for a
    malformed id or another tenant's table)."""
    return _selectors.table_get(tenant_id=tenant_id, table_id=table_id)


def list_tables(*, tenant_id: uuid.UUID, area: str | None = None, status: str | None = None) -> list[TableInfo]:
    """The tenant's tables ordered by code, optionally only one area and/or status."""
    return _selectors.table_list(tenant_id=tenant_id, area=area, status=status)


def create_table(*, tenant_id: uuid.UUID, code: str, area: str = "", seats: int = 4) -> TableInfo:
    """A new free table. Raises TableCodeTaken."""
    return _services.table_create(tenant_id=tenant_id, code=code, area=area, seats=seats)


def open_tab(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """Seat guests at a free table (-> occupied, empty tab). Exactly one of concurrent opens wins.
    Raises TableNotFound, TableNotFree (409, extra status)."""
    return _services.table_open(tenant_id=tenant_id, table_id=table_id)


def close_tab(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """Close the table's open tab (-> needs_cleaning) and publish restaurant.tab_closed with its order ids.
    Raises TableNotFound, NoOpenTab."""
    return _services.table_close(tenant_id=tenant_id, table_id=table_id)


def mark_table_free(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """A cleaned table becomes free (no change if free). Raises TableNotFound, TableNotCleanable (occupied)."""
    return _services.table_mark_free(tenant_id=tenant_id, table_id=table_id)


def move_tab(*, tenant_id: uuid.UUID, table_id: str, target_table_id: str) -> TableInfo:
    """Move the open tab to a free table; returns the target. Raises TableNotFound, SameTable, NoOpenTab,
    TableNotFree."""
    return _services.table_move(tenant_id=tenant_id, table_id=table_id, target_table_id=target_table_id)


def merge_tables(*, tenant_id: uuid.UUID, table_id: str, other_table_id: str) -> TableInfo:
    """Move the other table's orders onto this table's open tab; the other table needs cleaning.
    Returns this table. Raises TableNotFound, SameTable, NoOpenTab."""
    return _services.table_merge(tenant_id=tenant_id, table_id=table_id, other_table_id=other_table_id)


def attach_order_to_table(*, tenant_id: uuid.UUID, table_id: str, order_id: str) -> TableInfo | None:
    """Put an order on the table's open tab (opening one, table -> occupied). Idempotent per order id.
    Returns None for an unknown table (logged, nothing changed)."""
    return _services.table_order_attach(tenant_id=tenant_id, table_id=table_id, order_id=order_id)


def detach_order(*, tenant_id: uuid.UUID, order_id: str) -> bool:
    """Take a cancelled order off its open tab; returns whether it was on one."""
    return _services.table_order_detach(tenant_id=tenant_id, order_id=order_id)


# --- menus ---------------------------------------------------------------------------------------------

def available_menus(*, tenant_id: uuid.UUID, at: datetime | None = None) -> list[MenuView]:
    """Menus served at `at` (default now) in the tenant's time zone, with current prices and stock from
    inventory (one batch call). Items whose product is unknown, inactive or flagged are left out."""
    return _selectors.menus_available(tenant_id=tenant_id, at=at)


def get_menu_view(*, tenant_id: uuid.UUID, menu_id: str, at: datetime | None = None) -> MenuView:
    """One active menu with current prices and stock, served now or not (see `available_now`).
    Raises MenuNotFound (unknown, inactive, or another tenant's)."""
    return _selectors.menu_view(tenant_id=tenant_id, menu_id=menu_id, at=at)


def get_menu(*, tenant_id: uuid.UUID, menu_id: str) -> MenuInfo:
    """A menu as stored (windows, sections, items with their flags; no prices). Raises MenuNotFound."""
    return _selectors.menu_get(tenant_id=tenant_id, menu_id=menu_id)


def list_menus(*, tenant_id: uuid.UUID) -> list[MenuInfo]:
    """Every menu of the tenant as stored, active or not, by name."""
    return _selectors.menu_list(tenant_id=tenant_id)


def create_menu(*, tenant_id: uuid.UUID, name: str, windows: Sequence[WindowSpec] = (),
                sections: Sequence[SectionSpec] = (), is_active: bool = True) -> MenuInfo:
    """Create a menu whole. No windows = served whenever active. Raises InvalidMenuWindow (end not after
    start, no days), MenuProductUnavailable (unknown, inactive or another tenant's product), MenuNameTaken.
    Nothing is written when it raises."""
    return _services.menu_create(tenant_id=tenant_id, name=name, windows=windows, sections=sections,
                                 is_active=is_active)


def set_menu_windows(*, tenant_id: uuid.UUID, menu_id: str, windows: Sequence[WindowSpec]) -> MenuInfo:
    """Replace the menu's windows. Raises MenuNotFound, InvalidMenuWindow (nothing changed)."""
    return _services.menu_windows_set(tenant_id=tenant_id, menu_id=menu_id, windows=windows)


def add_menu_section(*, tenant_id: uuid.UUID, menu_id: str, section: SectionSpec) -> MenuInfo:
    """Append a section with its items. Raises MenuNotFound, MenuProductUnavailable."""
    return _services.menu_section_add(tenant_id=tenant_id, menu_id=menu_id, section=section)


def add_menu_item(*, tenant_id: uuid.UUID, section_id: str, item: ItemSpec) -> MenuInfo:
    """Add an item to a section. Raises MenuNotFound, MenuProductUnavailable."""
    return _services.menu_item_add(tenant_id=tenant_id, section_id=section_id, item=item)


def validate_menu_window(*, window: WindowSpec) -> None:
    """Raises InvalidMenuWindow unless the window has days and ends after it starts."""
    _services.menu_window_validate(window=window)


def validate_menu_products(*, tenant_id: uuid.UUID, product_ids: Sequence[str]) -> None:
    """One inventory call; raises MenuProductUnavailable naming every unknown or inactive product."""
    _services.menu_products_validate(tenant_id=tenant_id, product_ids=product_ids)


def flag_product_items(*, tenant_id: uuid.UUID, product_id: str, unavailable: bool) -> int:
    """Set or clear `product_unavailable` on every menu item of the product; returns the count changed."""
    return _services.menu_items_flag_product(tenant_id=tenant_id, product_id=product_id, unavailable=unavailable)


def seed_demo_restaurant(*, tenant_id: uuid.UUID) -> str:
    """Idempotently give the tenant tables T1..T8 (Ground floor, Terrace), an "All day" menu and a
    "Breakfast" menu (06:00-11:00) built from its catalog. Returns a one-line summary."""
    return _services.demo_seed(tenant_id=tenant_id)
