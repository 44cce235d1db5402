"""Reads of the restaurant module. Menus are joined with inventory's current data in Python, through
inventory's api, in one batch call per read (never a cross-database join, never one call per item)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from django.db.models import Prefetch, QuerySet
from django.utils import timezone

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from pos.tenancy import tenant_context

from .dto import (
    MenuInfo,
    MenuItemInfo,
    MenuItemView,
    MenuSectionInfo,
    MenuSectionView,
    MenuView,
    OptionChoiceView,
    OptionGroupView,
    TableInfo,
    VariantView,
    WindowSpec,
)
from .errors import MenuNotFound, TableNotFound
from .models import WEEKDAYS, DiningTable, Menu, MenuItem, MenuSection, MenuWindow, Tab, TabOrder, TabStatus

# --- tables --------------------------------------------------------------------------------------------


def _open_tabs() -> Prefetch:
    return Prefetch("tabs", queryset=Tab.objects.filter(status=TabStatus.OPEN).prefetch_related(
        Prefetch("orders", queryset=TabOrder.objects.order_by("attached_at", "id"))), to_attr="open_tabs")


def table_queryset(*, area: str | None = None, status: str | None = None) -> QuerySet[DiningTable]:
    """Tables of the tenant in scope, open tab and its orders prefetched (a constant number of queries)."""
    queryset = DiningTable.objects.prefetch_related(_open_tabs()).order_by("code")
    if area:
        queryset = queryset.filter(area=area)
    if status:
        queryset = queryset.filter(status=status)
    return queryset


def table_info(table: DiningTable) -> TableInfo:
    tabs = getattr(table, "open_tabs", None)
    if tabs is None:
        tabs = list(Tab.objects.filter(table=table, status=TabStatus.OPEN).prefetch_related("orders"))
    tab = tabs[0] if tabs else None
    order_ids = tuple(o.order_id for o in tab.orders.all()) if tab else ()
    return TableInfo(id=str(table.id), code=table.code, area=table.area, seats=table.seats, status=table.status,
                     open_order_ids=order_ids, tab_id=str(tab.id) if tab else None, version=table.version,
                     updated_at=table.updated_at)


def _table_pk(table_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return table_id if isinstance(table_id, uuid.UUID) else uuid.UUID(str(table_id))
    except ValueError:
        raise TableNotFound(f"No table {table_id}.", table_id=str(table_id)) from None


def table_get(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    with tenant_context(tenant_id):
        table = table_queryset().filter(pk=_table_pk(table_id)).first()
        if table is None:
            raise TableNotFound(f"No table {table_id}.", table_id=str(table_id))
        return table_info(table)


def table_list(*, tenant_id: uuid.UUID, area: str | None = None, status: str | None = None) -> list[TableInfo]:
    with tenant_context(tenant_id):
        return [table_info(t) for t in table_queryset(area=area, status=status)]


# --- menus ---------------------------------------------------------------------------------------------


def _window_spec(window: MenuWindow) -> WindowSpec:
    return WindowSpec(days=window.days, starts_at=window.starts_at, ends_at=window.ends_at)


def menu_is_available(menu: Menu, local_now: datetime) -> bool:
    """Active and, when it has windows, inside one (start inclusive, end exclusive). No windows = all the time."""
    if not menu.is_active:
        return False
    windows = list(menu.windows.all())
    if not windows:
        return True
    day, now = WEEKDAYS[local_now.weekday()], local_now.time().replace(tzinfo=None)
    return any(getattr(w, day) and w.starts_at <= now < w.ends_at for w in windows)


def tenant_now(tenant_id: uuid.UUID, at: datetime | None = None) -> datetime:
    """`at` (default now) in the restaurant's own time zone."""
    zone = ZoneInfo(accounts.get_tenant(tenant_id).timezone)
    return (at or timezone.now()).astimezone(zone)


def _menu_tree() -> QuerySet[Menu]:
    items = Prefetch("items", queryset=MenuItem.objects.order_by("position", "id"))
    sections = Prefetch("sections", queryset=MenuSection.objects.order_by("position", "id").prefetch_related(items))
    return Menu.objects.prefetch_related("windows", sections)


def menu_info(menu: Menu) -> MenuInfo:
    return MenuInfo(
        id=str(menu.id), name=menu.name, is_active=menu.is_active,
        windows=tuple(_window_spec(w) for w in menu.windows.all()),
        sections=tuple(MenuSectionInfo(
            id=str(s.id), names=dict(s.names), position=s.position,
            items=tuple(MenuItemInfo(id=str(i.id), product_id=i.product_id, display_names=dict(i.display_names or {}),
                                     position=i.position, product_unavailable=i.product_unavailable)
                        for i in s.items.all()),
        ) for s in menu.sections.all()),
    )


def _menu_pk(menu_id: str | uuid.UUID) -> uuid.UUID:
    try:
        return menu_id if isinstance(menu_id, uuid.UUID) else uuid.UUID(str(menu_id))
    except ValueError:
        raise MenuNotFound(f"No menu {menu_id}.", menu_id=str(menu_id)) from None


def menu_get(*, tenant_id: uuid.UUID, menu_id: str) -> MenuInfo:
    with tenant_context(tenant_id):
        menu = _menu_tree().filter(pk=_menu_pk(menu_id)).first()
        if menu is None:
            raise MenuNotFound(f"No menu {menu_id}.", menu_id=str(menu_id))
        return menu_info(menu)


def menu_list(*, tenant_id: uuid.UUID) -> list[MenuInfo]:
    with tenant_context(tenant_id):
        return [menu_info(m) for m in _menu_tree().order_by("name")]


def _groups(groups: Iterable) -> tuple[OptionGroupView, ...]:
    return tuple(OptionGroupView(
        key=g.key, names=dict(g.names), min_select=g.min_select, max_select=g.max_select,
        choices=tuple(OptionChoiceView(key=c.key, names=dict(c.names), price_delta=c.price_delta) for c in g.choices),
    ) for g in groups)


def _item_view(item: MenuItem, product) -> MenuItemView:
    names = {**dict(product.names), **{k: v for k, v in (item.display_names or {}).items() if v}}
    return MenuItemView(
        id=str(item.id), product_id=item.product_id, names=names, position=item.position, price=product.price,
        is_sold_out=bool(product.is_sold_out), stock_level=product.stock_level, category_id=product.category_id,
        variants=tuple(VariantView(key=v.key, names=dict(v.names), price=v.price, stock_level=v.stock_level,
                                   is_sold_out=bool(getattr(v, "is_sold_out", False)),
                                   option_groups=_groups(getattr(v, "option_groups", ()) or ()))
                       for v in product.variants),
        option_groups=_groups(product.option_groups or ()),
    )


def menu_views(*, tenant_id: uuid.UUID, menus: list[Menu], local_now: datetime) -> list[MenuView]:
    """Terminal views of `menus` (loaded with `_menu_tree()`): one inventory call for every product on them.

    Items whose product is unknown to inventory, inactive, or flagged unavailable are left out: a terminal
    shows only what can be sold. Sold-out items stay, marked `is_sold_out`."""
    product_ids = sorted({i.product_id for m in menus for s in m.sections.all() for i in s.items.all()
                          if not i.product_unavailable})
    products = inventory.get_products(tenant_id=tenant_id, product_ids=product_ids) if product_ids else {}
    views = []
    for menu in menus:
        sections = []
        for section in menu.sections.all():
            items = tuple(_item_view(i, products[i.product_id]) for i in section.items.all()
                          if not i.product_unavailable and i.product_id in products
                          and products[i.product_id].is_active)
            sections.append(MenuSectionView(id=str(section.id), names=dict(section.names), position=section.position,
                                            items=items))
        views.append(MenuView(id=str(menu.id), name=menu.name, available_now=menu_is_available(menu, local_now),
                              windows=tuple(_window_spec(w) for w in menu.windows.all()), sections=tuple(sections)))
    return views


def menus_available(*, tenant_id: uuid.UUID, at: datetime | None = None) -> list[MenuView]:
    with tenant_context(tenant_id):
        local_now = tenant_now(tenant_id, at)
        menus = [m for m in _menu_tree().filter(is_active=True).order_by("name") if menu_is_available(m, local_now)]
        return menu_views(tenant_id=tenant_id, menus=menus, local_now=local_now)


def menu_view(*, tenant_id: uuid.UUID, menu_id: str, at: datetime | None = None) -> MenuView:
    """One active menu for a terminal, whether or not it is being served right now (`available_now` says)."""
    with tenant_context(tenant_id):
        menu = _menu_tree().filter(pk=_menu_pk(menu_id), is_active=True).first()
        if menu is None:
            raise MenuNotFound(f"No active menu {menu_id}.", menu_id=str(menu_id))
        return menu_views(tenant_id=tenant_id, menus=[menu], local_now=tenant_now(tenant_id, at))[0]

