"""Menus: windows, items validated through inventory, availability in the tenant's time zone, flags."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time

import pytest

from modules.restaurant import api
from modules.restaurant.api import ItemSpec, SectionSpec, WindowSpec
from pos.contracts import Envelope
from pos.contracts.inventory import ProductUpdated

from .conftest import count_queries, totals

pytestmark = pytest.mark.django_db(databases="__all__")

ALL_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
BREAKFAST = WindowSpec(days=ALL_DAYS, starts_at=time(6), ends_at=time(11))
# Monday 2 March 2026; Asia/Yangon is UTC+06:30.
MONDAY_0730_YANGON = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
MONDAY_1130_YANGON = datetime(2026, 3, 2, 5, 0, tzinfo=UTC)


def _menu_names(menus) -> list[str]:
    return [m.name for m in menus]


def test_create_menu_with_sections_and_items_keeps_order_and_overrides(tenant, catalog):
    soup, tea = catalog.add(tenant, "Mohinga"), catalog.add(tenant, "Tea")
    menu = api.create_menu(tenant_id=tenant.id, name="Breakfast", windows=[BREAKFAST], sections=[
        SectionSpec(names={"en": "Drinks", "my": "သောက်စရာ"}, position=1, items=(ItemSpec(product_id=tea),)),
        SectionSpec(names={"en": "Noodles", "my": "ခေါက်ဆွဲ"}, position=0,
                    items=(ItemSpec(product_id=soup, display_names={"en": "Fish noodle soup"}),)),
    ])
    assert [s.names["en"] for s in menu.sections] == ["Noodles", "Drinks"]
    assert menu.windows == (BREAKFAST,)
    view = api.get_menu_view(tenant_id=tenant.id, menu_id=menu.id, at=MONDAY_0730_YANGON)
    item = view.sections[0].items[0]
    assert item.names == {"en": "Fish noodle soup", "my": "Mohinga (my)"}
    assert item.price.amount == 3000 and item.price.currency == "MMK"
    assert view.available_now is True


@pytest.mark.parametrize("starts, ends", [(time(11), time(6)), (time(9), time(9))])
def test_window_ending_before_or_at_start_is_refused_and_nothing_written(tenant, starts, ends):
    with pytest.raises(api.InvalidMenuWindow) as raised:
        api.create_menu(tenant_id=tenant.id, name="Late", windows=[WindowSpec(days=ALL_DAYS, starts_at=starts,
                                                                                ends_at=ends)])
    assert raised.value.status == 400
    assert api.list_menus(tenant_id=tenant.id) == []


def test_window_without_days_is_refused(tenant):
    with pytest.raises(api.InvalidMenuWindow):
        api.validate_menu_window(window=WindowSpec(days=(), starts_at=time(6), ends_at=time(7)))
    with pytest.raises(api.InvalidMenuWindow):
        api.validate_menu_window(window=WindowSpec(days=("someday",), starts_at=time(6), ends_at=time(7)))


def test_set_windows_replaces_and_refuses_bad_window_without_change(tenant):
    menu = api.create_menu(tenant_id=tenant.id, name="Drinks", windows=[BREAKFAST])
    evening = WindowSpec(days=("fri", "sat"), starts_at=time(17), ends_at=time(23, 30))
    assert api.set_menu_windows(tenant_id=tenant.id, menu_id=menu.id, windows=[evening]).windows == (evening,)
    with pytest.raises(api.InvalidMenuWindow):
        api.set_menu_windows(tenant_id=tenant.id, menu_id=menu.id,
                             windows=[WindowSpec(days=ALL_DAYS, starts_at=time(23), ends_at=time(2))])
    assert api.get_menu(tenant_id=tenant.id, menu_id=menu.id).windows == (evening,)


def test_unknown_inactive_and_other_tenants_products_are_refused_in_one_error(tenant, other_tenant, catalog):
    good = catalog.add(tenant, "Tea")
    inactive = catalog.add(tenant, "Old dish", active=False)
    foreign = catalog.add(other_tenant, "Their dish")
    with pytest.raises(api.MenuProductUnavailable) as raised:
        api.create_menu(tenant_id=tenant.id, name="All day", sections=[SectionSpec(names={"en": "All"}, items=(
            ItemSpec(product_id=good), ItemSpec(product_id=inactive), ItemSpec(product_id=foreign),
            ItemSpec(product_id="no-such-product"))),
        ])
    reasons = {p["product_id"]: p["reason"] for p in raised.value.extra["products"]}
    assert reasons == {inactive: "inactive", foreign: "unknown", "no-such-product": "unknown"}
    assert api.list_menus(tenant_id=tenant.id) == []


def test_add_item_validates_product(tenant, other_tenant, catalog):
    menu = api.create_menu(tenant_id=tenant.id, name="All day", sections=[SectionSpec(names={"en": "Mains"})])
    section_id = menu.sections[0].id
    with pytest.raises(api.MenuProductUnavailable):
        api.add_menu_item(tenant_id=tenant.id, section_id=section_id,
                          item=ItemSpec(product_id=catalog.add(other_tenant, "Theirs")))
    dish = catalog.add(tenant, "Curry")
    menu = api.add_menu_item(tenant_id=tenant.id, section_id=section_id, item=ItemSpec(product_id=dish))
    assert [i.product_id for i in menu.sections[0].items] == [dish]
    with pytest.raises(api.MenuNotFound):
        api.add_menu_item(tenant_id=other_tenant.id, section_id=section_id,
                          item=ItemSpec(product_id=catalog.add(other_tenant, "Theirs too")))


def test_menu_names_are_unique_per_tenant(tenant, other_tenant):
    api.create_menu(tenant_id=tenant.id, name="Drinks")
    api.create_menu(tenant_id=other_tenant.id, name="Drinks")
    with pytest.raises(api.MenuNameTaken):
        api.create_menu(tenant_id=tenant.id, name="Drinks")


def test_available_menus_follow_windows_in_tenant_time_zone(tenant):
    api.create_menu(tenant_id=tenant.id, name="Breakfast", windows=[BREAKFAST])
    api.create_menu(tenant_id=tenant.id, name="All day")  # no window: whenever active
    api.create_menu(tenant_id=tenant.id, name="Weekend", windows=[
        WindowSpec(days=("sat", "sun"), starts_at=time(0), ends_at=time(23, 59))])
    api.create_menu(tenant_id=tenant.id, name="Retired", is_active=False)
    assert _menu_names(api.available_menus(tenant_id=tenant.id, at=MONDAY_0730_YANGON)) == ["All day", "Breakfast"]
    # 05:00 UTC is 11:30 in Yangon: breakfast is over (the end is exclusive).
    assert _menu_names(api.available_menus(tenant_id=tenant.id, at=MONDAY_1130_YANGON)) == ["All day"]
    friday_night_utc = datetime(2026, 3, 6, 23, 0, tzinfo=UTC)
    assert _menu_names(api.available_menus(tenant_id=tenant.id, at=friday_night_utc)) == ["All day", "Weekend"]


def test_terminal_view_leaves_out_inactive_products_and_keeps_sold_out(tenant, catalog):
    tea, cake = catalog.add(tenant, "Tea"), catalog.add(tenant, "Cake")
    menu = api.create_menu(tenant_id=tenant.id, name="All day", sections=[
        SectionSpec(names={"en": "All"}, items=(ItemSpec(product_id=tea), ItemSpec(product_id=cake)))])
    catalog.deactivate(tenant, cake)
    view = api.get_menu_view(tenant_id=tenant.id, menu_id=menu.id)
    assert [i.product_id for i in view.sections[0].items] == [tea]
    assert view.sections[0].items[0].stock_level == 0 and view.sections[0].items[0].is_sold_out is True


def _product_updated(tenant, product_id: str, *, active: bool) -> Envelope:
    return Envelope(id=uuid.uuid4(), name="inventory.product_updated", version=1, tenant_id=tenant.id,
                    occurred_at=datetime.now(UTC),
                    payload=ProductUpdated(product_id=product_id, version=2, is_active=active, is_sold_out=False,
                                           changed=["is_active"]))


def test_product_deactivated_later_flags_its_items_and_reactivation_clears(tenant, other_tenant, catalog):
    from modules.restaurant.handlers import flag_menu_items_of_product

    tea = catalog.add(tenant, "Tea")
    api.create_menu(tenant_id=tenant.id, name="All day", sections=[
        SectionSpec(names={"en": "Drinks"}, items=(ItemSpec(product_id=tea),))])
    api.create_menu(tenant_id=tenant.id, name="Breakfast", sections=[
        SectionSpec(names={"en": "Drinks"}, items=(ItemSpec(product_id=tea),))])

    def flags(tenant_id) -> list[bool]:
        return [i.product_unavailable for m in api.list_menus(tenant_id=tenant_id)
                for s in m.sections for i in s.items]

    flag_menu_items_of_product(_product_updated(other_tenant, tea, active=False))  # another tenant: no effect
    assert flags(tenant.id) == [False, False]
    flag_menu_items_of_product(_product_updated(tenant, tea, active=False))
    assert flags(tenant.id) == [True, True]
    flag_menu_items_of_product(_product_updated(tenant, tea, active=False))  # redelivery: same result
    assert flags(tenant.id) == [True, True]
    assert api.available_menus(tenant_id=tenant.id)[0].sections[0].items == ()
    flag_menu_items_of_product(_product_updated(tenant, tea, active=True))
    assert flags(tenant.id) == [False, False]


def _menu_with(tenant, catalog, count: int, name: str) -> str:
    ids = [catalog.add(tenant, f"{name} dish {n}") for n in range(count)]
    sections = [SectionSpec(names={"en": f"Section {s}"}, items=tuple(ItemSpec(product_id=p) for p in ids[s::3]))
                for s in range(3)]
    return api.create_menu(tenant_id=tenant.id, name=name, sections=sections).id


def test_reading_a_menu_costs_the_same_queries_for_3_or_45_items(tenant, catalog):
    small = _menu_with(tenant, catalog, 3, "Small")
    large = _menu_with(tenant, catalog, 45, "Large")
    api.get_menu_view(tenant_id=tenant.id, menu_id=small)  # warm caches (content types and the like)
    with count_queries() as small_counts:
        view = api.get_menu_view(tenant_id=tenant.id, menu_id=small)
    assert sum(len(s.items) for s in view.sections) == 3
    with count_queries() as large_counts:
        view = api.get_menu_view(tenant_id=tenant.id, menu_id=large)
    assert sum(len(s.items) for s in view.sections) == 45
    assert totals(large_counts) == totals(small_counts)
    assert totals(large_counts)["restaurant"] <= 4
