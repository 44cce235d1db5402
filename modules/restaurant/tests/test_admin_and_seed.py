"""Admin for managers (menus, items with the product picker, tables and actions) and the demo seed."""

from __future__ import annotations

import pytest

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.restaurant import api
from modules.restaurant.api import ItemSpec, SectionSpec

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def manager(client, tenant):
    accounts.create_manager(tenant_id=tenant.id, username="boss", password="a-long-password-1")
    assert client.login(username="boss", password="a-long-password-1")
    return client


def test_manager_sees_own_tables_filtered_by_area(manager, tenant, other_tenant):
    api.create_table(tenant_id=tenant.id, code="T1", area="Ground floor")
    api.create_table(tenant_id=tenant.id, code="T7", area="Terrace")
    api.create_table(tenant_id=other_tenant.id, code="Z9", area="Terrace")
    page = manager.get("/admin/restaurant/diningtable/?area=Terrace")
    assert page.status_code == 200
    # The rows listed, not a search of the whole page: its random CSRF token sometimes contains "Z9" or "T1".
    assert [table.code for table in page.context["cl"].result_list] == ["T7"]
    rows = page.content.decode().split('id="result_list"', 1)[1].split("</table>", 1)[0]
    assert ">T7<" in rows and ">T1<" not in rows and ">Z9<" not in rows


def test_mark_free_action_frees_cleaned_tables_only(manager, tenant):
    cleaned = api.create_table(tenant_id=tenant.id, code="T1")
    busy = api.create_table(tenant_id=tenant.id, code="T2")
    api.open_tab(tenant_id=tenant.id, table_id=cleaned.id)
    api.close_tab(tenant_id=tenant.id, table_id=cleaned.id)
    api.open_tab(tenant_id=tenant.id, table_id=busy.id)
    response = manager.post("/admin/restaurant/diningtable/", {
        "action": "mark_free", "_selected_action": [cleaned.id, busy.id]}, follow=True)
    assert response.status_code == 200
    assert api.get_table(tenant_id=tenant.id, table_id=cleaned.id).status == "free"
    assert api.get_table(tenant_id=tenant.id, table_id=busy.id).status == "occupied"


def test_product_picker_searches_names_in_any_locale_within_the_tenant(manager, tenant, other_tenant):
    mine = inventory.create_product(tenant_id=tenant.id, names={"en": "Fish soup", "my": "မုန့်ဟင်းခါး"}, price=2500)
    inventory.create_product(tenant_id=other_tenant.id, names={"en": "Fish soup", "my": "မုန့်ဟင်းခါး"}, price=2500)
    for query in ("fish", "မုန့်ဟင်း"):
        found = manager.get("/admin/restaurant/menusection/product-search/", {"q": query}).json()["results"]
        assert [r["id"] for r in found] == [mine.id]


def _section_post(section, product_id: str) -> dict:
    return {
        "menu": section["menu"], "names_en": "Mains", "names_my": "ဟင်းများ", "position": "0",
        "items-TOTAL_FORMS": "1", "items-INITIAL_FORMS": "0", "items-MIN_NUM_FORMS": "0",
        "items-MAX_NUM_FORMS": "1000", "items-0-product_id": product_id,
        "items-0-position": "0", "items-0-section": section["id"],
    }


def test_section_page_refuses_another_tenants_product_and_saves_a_good_one(manager, tenant, other_tenant, catalog):
    menu = api.create_menu(tenant_id=tenant.id, name="All day", sections=[SectionSpec(names={"en": "Mains"})])
    section = {"id": menu.sections[0].id, "menu": menu.id}
    url = f"/admin/restaurant/menusection/{section['id']}/change/"
    page = manager.get(url)
    assert page.status_code == 200 and "data-product-search" in page.content.decode()
    foreign = catalog.add(other_tenant, "Theirs")
    refused = manager.post(url, _section_post(section, foreign))
    assert refused.status_code == 200 and "cannot be put on a menu" in refused.content.decode()
    assert api.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0].items == ()
    good = catalog.add(tenant, "Curry")
    saved = manager.post(url, _section_post(section, good))
    assert saved.status_code == 302
    assert [i.product_id for i in api.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0].items] == [good]


def test_section_and_item_names_are_edited_per_language_without_json(manager, tenant, catalog):
    menu = api.create_menu(tenant_id=tenant.id, name="All day", sections=[SectionSpec(names={"en": "Mains"})])
    section = {"id": menu.sections[0].id, "menu": menu.id}
    url = f"/admin/restaurant/menusection/{section['id']}/change/"
    page = manager.get(url).content.decode()
    assert 'name="names_en"' in page and 'name="names_my"' in page and 'value="Mains"' in page
    assert '{"en"' not in page  # no JSON to read or type
    curry = catalog.add(tenant, "Curry")
    missing = manager.post(url, {**_section_post(section, curry), "names_my": ""})
    assert missing.status_code == 200 and "This field is required" in missing.content.decode()
    saved = manager.post(url, {**_section_post(section, curry), "items-0-display_names_en": "Chicken curry"})
    assert saved.status_code == 302
    stored = api.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0]
    assert stored.names == {"en": "Mains", "my": "ဟင်းများ"}
    assert stored.items[0].display_names == {"en": "Chicken curry"}


def test_menu_admin_refuses_window_ending_before_start(manager, tenant):
    menu = api.create_menu(tenant_id=tenant.id, name="Breakfast")
    url = f"/admin/restaurant/menu/{menu.id}/change/"
    assert manager.get(url).status_code == 200
    response = manager.post(url, {
        "name": "Breakfast", "is_active": "on",
        "windows-TOTAL_FORMS": "1", "windows-INITIAL_FORMS": "0", "windows-MIN_NUM_FORMS": "0",
        "windows-MAX_NUM_FORMS": "1000", "windows-0-mon": "on", "windows-0-starts_at": "11:00",
        "windows-0-ends_at": "06:00", "windows-0-menu": menu.id,
        "sections-TOTAL_FORMS": "0", "sections-INITIAL_FORMS": "0", "sections-MIN_NUM_FORMS": "0",
        "sections-MAX_NUM_FORMS": "1000",
    })
    assert response.status_code == 200 and "must end after it starts" in response.content.decode()
    assert api.get_menu(tenant_id=tenant.id, menu_id=menu.id).windows == ()


def test_other_managers_cannot_open_my_menu(client, tenant, other_tenant):
    menu = api.create_menu(tenant_id=tenant.id, name="Secret")
    accounts.create_manager(tenant_id=other_tenant.id, username="rival", password="a-long-password-2")
    assert client.login(username="rival", password="a-long-password-2")
    response = client.get(f"/admin/restaurant/menu/{menu.id}/change/")
    assert response.status_code in (302, 404)
    assert "Secret" not in client.get("/admin/restaurant/menu/").content.decode()


def test_demo_seed_builds_tables_and_menus_from_the_catalog_once(tenant):
    assert "menus wait" in api.seed_demo_restaurant(tenant_id=tenant.id)  # no catalog yet: tables only
    inventory.seed_demo_catalog(tenant_id=tenant.id)
    api.seed_demo_restaurant(tenant_id=tenant.id)
    assert api.seed_demo_restaurant(tenant_id=tenant.id).startswith("already seeded")
    tables = api.list_tables(tenant_id=tenant.id)
    assert [t.code for t in tables] == [f"T{n}" for n in range(1, 9)]
    assert {t.area for t in tables} == {"Ground floor", "Terrace"}
    menus = {m.name: m for m in api.list_menus(tenant_id=tenant.id)}
    assert set(menus) == {"All day", "Breakfast"}
    assert menus["Breakfast"].windows[0].starts_at.hour == 6 and menus["Breakfast"].windows[0].ends_at.hour == 11
    assert sum(len(s.items) for s in menus["All day"].sections) > 0
    assert sum(len(s.items) for s in menus["Breakfast"].sections) > 0


def test_item_specs_keep_positions(tenant, catalog):
    a, b = catalog.add(tenant), catalog.add(tenant)
    menu = api.create_menu(tenant_id=tenant.id, name="M", sections=[SectionSpec(names={"en": "S"}, items=(
        ItemSpec(product_id=a, position=5), ItemSpec(product_id=b, position=1)))])
    assert [i.product_id for i in menu.sections[0].items] == [b, a]
