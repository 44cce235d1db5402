"""Writes of the restaurant module: one transaction in its own database each, events in the same one."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Sequence
from datetime import time

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from modules.inventory import api as inventory
from pos.contracts.restaurant import TabClosed, TableStatusChanged
from pos.events import publish
from pos.tenancy import tenant_context

from .dto import ItemSpec, MenuInfo, SectionSpec, TableInfo, WindowSpec
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
from .models import WEEKDAYS, DiningTable, Menu, MenuItem, MenuSection, MenuWindow, Tab, TableStatus, TabOrder, TabStatus
from .selectors import _menu_pk, _menu_tree, _table_pk, menu_info, table_get

DB = "restaurant"
logger = logging.getLogger("modules.restaurant")


# --- menus ---------------------------------------------------------------------------------------------


def menu_window_validate(*, window: WindowSpec) -> None:
    """Raises InvalidMenuWindow unless the window has known days and ends after it starts (same day)."""
    days = [d.lower() for d in window.days]
    unknown = [d for d in days if d not in WEEKDAYS]
    if not days or unknown:
        raise InvalidMenuWindow("A window needs one or more days among " + ", ".join(WEEKDAYS) + ".",
                                days=list(window.days))
    if not isinstance(window.starts_at, time) or not isinstance(window.ends_at, time):
        raise InvalidMenuWindow("starts_at and ends_at must be times of day.")
    if window.ends_at <= window.starts_at:
        raise InvalidMenuWindow(
            f"The window ends ({window.ends_at:%H:%M}) before or when it starts ({window.starts_at:%H:%M}). "
            "Windows never cross midnight: split a late-night window in two.",
            starts_at=window.starts_at.strftime("%H:%M"), ends_at=window.ends_at.strftime("%H:%M"))


def menu_products_validate(*, tenant_id: uuid.UUID, product_ids: Iterable[str]) -> None:
    """One inventory call for all `product_ids`. Raises MenuProductUnavailable listing each unknown (which
    includes another tenant's) or inactive product."""
    wanted = sorted({str(p) for p in product_ids})
    if not wanted:
        return
    found = inventory.get_products(tenant_id=tenant_id, product_ids=wanted)
    problems = []
    for product_id in wanted:
        product = found.get(product_id)
        if product is None:
            problems.append({"product_id": product_id, "reason": "unknown"})
        elif not product.is_active:
            problems.append({"product_id": product_id, "reason": "inactive"})
    if problems:
        raise MenuProductUnavailable(
            "These products cannot be put on a menu: "
            + ", ".join(f"{p['product_id']} ({p['reason']})" for p in problems) + ".",
            products=problems)


def _set_days(window: MenuWindow, days: Sequence[str]) -> None:
    chosen = {d.lower() for d in days}
    for day in WEEKDAYS:
        setattr(window, day, day in chosen)


def _create_windows(menu: Menu, windows: Sequence[WindowSpec]) -> None:
    for spec in windows:
        window = MenuWindow(menu=menu, tenant_id=menu.tenant_id, starts_at=spec.starts_at, ends_at=spec.ends_at)
        _set_days(window, spec.days)
        window.save(using=DB)


def _create_items(section: MenuSection, items: Sequence[ItemSpec], start: int = 0) -> None:
    MenuItem.objects.bulk_create([
        MenuItem(section=section, tenant_id=section.tenant_id, product_id=str(spec.product_id),
                 display_names=dict(spec.display_names or {}),
                 position=spec.position if spec.position is not None else start + index)
        for index, spec in enumerate(items)
    ])


def menu_create(*, tenant_id: uuid.UUID, name: str, windows: Sequence[WindowSpec] = (),
                sections: Sequence[SectionSpec] = (), is_active: bool = True) -> MenuInfo:
    """Create a menu with its windows, sections and items. Nothing is written if any part is refused."""
    for window in windows:
        menu_window_validate(window=window)
    menu_products_validate(tenant_id=tenant_id, product_ids=[i.product_id for s in sections for i in s.items])
    with tenant_context(tenant_id):
        try:
            with transaction.atomic(using=DB):
                menu = Menu.objects.create(tenant_id=tenant_id, name=name, is_active=is_active)
                _create_windows(menu, windows)
                for index, spec in enumerate(sections):
                    section = MenuSection.objects.create(
                        tenant_id=tenant_id, menu=menu, names=dict(spec.names),
                        position=spec.position if spec.position is not None else index)
                    _create_items(section, spec.items)
        except IntegrityError:
            raise MenuNameTaken(f"A menu named {name!r} exists.", name=name) from None
        return menu_info(_menu_tree().get(pk=menu.pk))


def menu_windows_set(*, tenant_id: uuid.UUID, menu_id: str, windows: Sequence[WindowSpec]) -> MenuInfo:
    """Replace a menu's windows. Raises MenuNotFound, InvalidMenuWindow (nothing changed)."""
    for window in windows:
        menu_window_validate(window=window)
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        menu = Menu.objects.select_for_update().filter(pk=_menu_pk(menu_id)).first()
        if menu is None:
            raise MenuNotFound(f"No menu {menu_id}.", menu_id=str(menu_id))
        MenuWindow.objects.filter(menu=menu).delete()
        _create_windows(menu, windows)
        Menu.objects.filter(pk=menu.pk).update(updated_at=timezone.now())
        return menu_info(_menu_tree().get(pk=menu.pk))


def menu_section_add(*, tenant_id: uuid.UUID, menu_id: str, section: SectionSpec) -> MenuInfo:
    """Append a section (with items) to a menu. Raises MenuNotFound, MenuProductUnavailable."""
    menu_products_validate(tenant_id=tenant_id, product_ids=[i.product_id for i in section.items])
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        menu = Menu.objects.filter(pk=_menu_pk(menu_id)).first()
        if menu is None:
            raise MenuNotFound(f"No menu {menu_id}.", menu_id=str(menu_id))
        position = section.position
        if position is None:
            position = MenuSection.objects.filter(menu=menu).count()
        row = MenuSection.objects.create(tenant_id=tenant_id, menu=menu, names=dict(section.names), position=position)
        _create_items(row, section.items)
        return menu_info(_menu_tree().get(pk=menu.pk))


def menu_item_add(*, tenant_id: uuid.UUID, section_id: str, item: ItemSpec) -> MenuInfo:
    """Add an item to a section, after checking its product with inventory. Raises MenuNotFound (unknown
    section), MenuProductUnavailable (unknown, inactive or another tenant's product)."""
    menu_products_validate(tenant_id=tenant_id, product_ids=[item.product_id])
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        try:
            section = MenuSection.objects.filter(pk=uuid.UUID(str(section_id))).first()
        except ValueError:
            section = None
        if section is None:
            raise MenuNotFound(f"No menu section {section_id}.", section_id=str(section_id))
        start = MenuItem.objects.filter(section=section).count()
        _create_items(section, [item], start=start)
        return menu_info(_menu_tree().get(pk=section.menu_id))


def menu_items_flag_product(*, tenant_id: uuid.UUID, product_id: str, unavailable: bool) -> int:
    """Flag (or clear) every menu item of `product_id`; returns how many items changed."""
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        return MenuItem.objects.filter(product_id=product_id).exclude(product_unavailable=unavailable).update(
            product_unavailable=unavailable)


def menu_items_remove_product(*, tenant_id: uuid.UUID, product_id: str) -> int:
    """Take `product_id` off every menu of the restaurant; returns how many items were removed."""
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        removed, _ = MenuItem.objects.filter(product_id=product_id).delete()
        return removed


# --- tables and tabs -----------------------------------------------------------------------------------


def _status_changed(table: DiningTable, status: str) -> None:
    publish(TableStatusChanged(table_id=str(table.id), status=status), tenant_id=table.tenant_id, using=DB)


def _set_status(table: DiningTable, status: str) -> None:
    if table.status == status:
        return
    DiningTable.objects.filter(pk=table.pk).update(status=status, version=F("version") + 1, updated_at=timezone.now())
    table.status = status
    _status_changed(table, status)


def _lock(table_id: str | uuid.UUID, *, role: str = "table") -> DiningTable:
    table = DiningTable.objects.select_for_update().filter(pk=_table_pk(table_id)).first()
    if table is None:
        raise TableNotFound(f"No {role} {table_id}.", table_id=str(table_id))
    return table


def _open_tab(table: DiningTable) -> Tab | None:
    return Tab.objects.filter(table=table, status=TabStatus.OPEN).first()


def table_create(*, tenant_id: uuid.UUID, code: str, area: str = "", seats: int = 4) -> TableInfo:
    """Create a free table. Raises TableCodeTaken."""
    with tenant_context(tenant_id):
        try:
            with transaction.atomic(using=DB):
                table = DiningTable.objects.create(tenant_id=tenant_id, code=code, area=area, seats=seats)
        except IntegrityError:
            raise TableCodeTaken(f"A table with code {code!r} exists.", code=code) from None
    return table_get(tenant_id=tenant_id, table_id=str(table.id))


def table_open(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """Seat guests: a free table becomes occupied with a new, empty tab. Of concurrent opens exactly one
    wins (a conditional UPDATE ... WHERE status='free'); the others get TableNotFree. Raises TableNotFound."""
    pk = _table_pk(table_id)
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            won = DiningTable.objects.filter(pk=pk, status=TableStatus.FREE).update(
                status=TableStatus.OCCUPIED, version=F("version") + 1, updated_at=timezone.now())
            if not won:
                table = DiningTable.objects.filter(pk=pk).first()
                if table is None:
                    raise TableNotFound(f"No table {table_id}.", table_id=str(table_id))
                raise TableNotFree(f"Table {table.code} is {table.status.replace('_', ' ')}.",
                                   table_id=str(table.id), table_status=table.status)
            table = DiningTable.objects.get(pk=pk)
            Tab.objects.create(tenant_id=tenant_id, table=table)
            _status_changed(table, TableStatus.OCCUPIED)
    return table_get(tenant_id=tenant_id, table_id=str(pk))


def table_close(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """Guests paid and left: the open tab is closed, the table needs cleaning, and restaurant.tab_closed
    carries the tab's order ids (pos_core completes them). Raises TableNotFound, NoOpenTab."""
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            table = _lock(table_id)
            tab = _open_tab(table)
            if tab is None:
                raise NoOpenTab(f"Table {table.code} has no open tab.", table_id=str(table.id), table_status=table.status)
            order_ids = list(TabOrder.objects.filter(tab=tab).order_by("attached_at", "id")
                             .values_list("order_id", flat=True))
            Tab.objects.filter(pk=tab.pk).update(status=TabStatus.CLOSED, closed_at=timezone.now())
            publish(TabClosed(table_id=str(table.id), order_ids=order_ids), tenant_id=tenant_id, using=DB)
            _set_status(table, TableStatus.NEEDS_CLEANING)
    return table_get(tenant_id=tenant_id, table_id=str(table.id))


def table_mark_free(*, tenant_id: uuid.UUID, table_id: str) -> TableInfo:
    """A table that needs cleaning was cleaned: it becomes free. Free already: no change.
    Raises TableNotFound, TableNotCleanable (occupied: close its tab first)."""
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            table = _lock(table_id)
            if table.status == TableStatus.OCCUPIED:
                raise TableNotCleanable(f"Table {table.code} is occupied; close its tab first.",
                                        table_id=str(table.id), table_status=table.status)
            _set_status(table, TableStatus.FREE)
    return table_get(tenant_id=tenant_id, table_id=str(table.id))


def _lock_pair(first_id: str, second_id: str, second_role: str) -> tuple[DiningTable, DiningTable]:
    first_pk, second_pk = _table_pk(first_id), _table_pk(second_id)
    if first_pk == second_pk:
        raise SameTable("Choose a different table.", table_id=str(first_pk))
    # Lock in a fixed order so two moves in opposite directions cannot deadlock.
    locked = {}
    for pk in sorted([first_pk, second_pk]):
        locked[pk] = _lock(pk, role="table" if pk == first_pk else second_role)
    return locked[first_pk], locked[second_pk]


def table_move(*, tenant_id: uuid.UUID, table_id: str, target_table_id: str) -> TableInfo:
    """Move the open tab (and its orders) to a free table; the table left behind needs cleaning.
    Returns the target. Raises TableNotFound (either table), SameTable, NoOpenTab, TableNotFree (target)."""
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            source, target = _lock_pair(table_id, target_table_id, "target table")
            tab = _open_tab(source)
            if tab is None:
                raise NoOpenTab(f"Table {source.code} has no open tab to move.", table_id=str(source.id),
                                table_status=source.status)
            if target.status != TableStatus.FREE:
                raise TableNotFree(f"Table {target.code} is {target.status.replace('_', ' ')}.",
                                   table_id=str(target.id), table_status=target.status)
            Tab.objects.filter(pk=tab.pk).update(table=target)
            _set_status(target, TableStatus.OCCUPIED)
            _set_status(source, TableStatus.NEEDS_CLEANING)
    return table_get(tenant_id=tenant_id, table_id=str(target.id))


def table_merge(*, tenant_id: uuid.UUID, table_id: str, other_table_id: str) -> TableInfo:
    """The guests of `other_table_id` join this table's tab: its orders move onto this table's open tab,
    its tab ends as merged, and that table needs cleaning. Returns this table.
    Raises TableNotFound (either table), SameTable, NoOpenTab (either table)."""
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            table, other = _lock_pair(table_id, other_table_id, "other table")
            tab, other_tab = _open_tab(table), _open_tab(other)
            for row, row_tab in ((table, tab), (other, other_tab)):
                if row_tab is None:
                    raise NoOpenTab(f"Table {row.code} has no open tab to merge.", table_id=str(row.id),
                                    table_status=row.status)
            TabOrder.objects.filter(tab=other_tab).update(tab=tab)
            Tab.objects.filter(pk=other_tab.pk).update(status=TabStatus.MERGED, merged_into=tab,
                                                       closed_at=timezone.now())
            _set_status(other, TableStatus.NEEDS_CLEANING)
    return table_get(tenant_id=tenant_id, table_id=str(table.id))


def table_order_attach(*, tenant_id: uuid.UUID, table_id: str, order_id: str) -> TableInfo | None:
    """An order was placed on a table: attach it to the table's open tab, opening one (and marking the
    table occupied) if there is none. Idempotent: an order already on a tab is left where it is.
    Returns None (and logs) for a table this tenant does not have."""
    with tenant_context(tenant_id):
        with transaction.atomic(using=DB):
            try:
                table = _lock(table_id)
            except TableNotFound:
                logger.warning("order placed on unknown table", extra={"table_id": table_id, "order_id": order_id})
                return None
            if not TabOrder.objects.filter(order_id=order_id).exists():
                tab = _open_tab(table) or Tab.objects.create(tenant_id=tenant_id, table=table)
                TabOrder.objects.create(tenant_id=tenant_id, tab=tab, order_id=order_id)
                _set_status(table, TableStatus.OCCUPIED)
    return table_get(tenant_id=tenant_id, table_id=str(table.id))


def table_order_detach(*, tenant_id: uuid.UUID, order_id: str) -> bool:
    """A cancelled order leaves its open tab (the table stays occupied). Returns whether one was removed."""
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        deleted, _ = TabOrder.objects.filter(order_id=order_id, tab__status=TabStatus.OPEN).delete()
        return bool(deleted)


# --- demo data -----------------------------------------------------------------------------------------

DEMO_TABLES = [(f"T{n}", "Ground floor" if n <= 5 else "Terrace", 2 if n % 3 == 0 else 4) for n in range(1, 9)]
BREAKFAST_WORDS = ("breakfast", "noodle", "mohinga", "tea", "coffee", "snack", "bread", "drink")


def _catalog_sections(products: list, *, only: Sequence[str] | None = None) -> list[SectionSpec]:
    by_category: dict[str, list] = {}
    names: dict[str, dict[str, str]] = {}
    for product in products:
        key = product.category_id or ""
        by_category.setdefault(key, []).append(product)
        names[key] = dict(product.category_names) or {"en": "Other", "my": "အခြား"}
    keys = [k for k in by_category if only is None or k in only]
    return [SectionSpec(names=names[k], position=i,
                        items=tuple(ItemSpec(product_id=p.id, position=j) for j, p in enumerate(by_category[k])))
            for i, k in enumerate(keys)]


def demo_seed(*, tenant_id: uuid.UUID) -> str:
    """Tables T1..T8 and the "All day" and "Breakfast" menus from the tenant's active catalog. Idempotent."""
    with tenant_context(tenant_id):
        have_tables = set(DiningTable.objects.values_list("code", flat=True))
        have_menus = set(Menu.objects.values_list("name", flat=True))
    tables = 0
    for code, area, seats in DEMO_TABLES:
        if code not in have_tables:
            table_create(tenant_id=tenant_id, code=code, area=area, seats=seats)
            tables += 1
    menus = []
    if not {"All day", "Breakfast"} <= have_menus:
        page = inventory.list_catalog(tenant_id=tenant_id, active=True, limit=200)
        products = [p for p in page.items if p.is_active]
        if not products:  # the catalog is not seeded yet: the next run builds the menus
            return f"{tables} table(s) created; menus wait for a catalog"
        if "All day" not in have_menus:
            # no window: served whenever the restaurant takes orders, so the demo works at any hour
            menu_create(tenant_id=tenant_id, name="All day", sections=_catalog_sections(products), windows=[])
            menus.append("All day")
        if "Breakfast" not in have_menus:
            labels = {(p.category_id or ""): " ".join(p.category_names.values()).lower() for p in products}
            morning = [key for key, label in labels.items() if any(word in label for word in BREAKFAST_WORDS)]
            sections = _catalog_sections(products, only=morning or None)
            menu_create(tenant_id=tenant_id, name="Breakfast", sections=sections,
                        windows=[WindowSpec(days=WEEKDAYS, starts_at=time(6, 0), ends_at=time(11, 0))])
            menus.append("Breakfast")
    created = f"{tables} table(s) and {len(menus)} menu(s) created" if tables or menus else "already seeded"
    return f"{created}; {len(DEMO_TABLES)} tables, menus All day and Breakfast"
