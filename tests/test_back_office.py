"""The back office as a manager and an operator meet it: the home page, the reports menu, who sees operator tools,
staff a manager adds, and where "View site" leads."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Group

from modules.accounts.models import User
from modules.inventory import api as inventory
from modules.pos_core.tests.conftest import make_catalog, new_key, order_body
from pos.events.relay import drain
from pos.money import Money
from pos.operators import OPERATORS_GROUP

pytestmark = pytest.mark.django_db(databases="__all__")

OPERATOR_TOOLS = ["/admin/pos/eventdelivery/", "/admin/pos_core/ordersaga/", "/admin/payment/providerbehaviour/",
                  "/admin/payment/simulatedproviderentry/"]


def staff(tenant, username: str, **fields) -> User:
    return User.objects.create_user(username, password="pw-123456!", tenant_id=tenant.id if tenant else None,
                                    role="manager", is_staff=True, **fields)


def place(api, **overrides) -> dict:
    response = api.post("/api/v1/orders", order_body(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201, response.content
    return response.json()


def text(response) -> str:
    return re.sub(r"\s+", " ", response.content.decode())


def test_home_page_shows_todays_sales_by_method_and_low_stock_by_name(client, tenant, api, other_api, other_tenant):
    make_catalog(tenant.id)
    inventory.create_product(tenant_id=other_tenant.id, product_id="their-tea", price=900,
                             names={"en": "Tea", "my": "လက်ဖက်ရည်"})
    inventory.adjust_stock(tenant_id=other_tenant.id, product_id="their-tea", variant=None, kind="receive",
                           quantity=5, reason="delivery", actor="test")
    first = place(api)
    # 10 - 2 - 6 = 2 mohinga left, under the threshold of 3
    second = place(api, items=[{"product_id": "mohinga", "quantity": 6}], payment={"method": "cash", "tendered": 50000})
    place(other_api, items=[{"product_id": "their-tea", "quantity": 1}])  # another restaurant's sale never shows here
    drain()  # inventory's stock events reach pos_core's stock cache and alerts
    client.force_login(staff(tenant, "boss"))

    page = text(client.get("/admin/"))

    gross = first["totals"]["grand_total"]["amount"] + second["totals"]["grand_total"]["amount"]
    assert f'id="today-gross">{Money(gross, "MMK")}<' in page
    assert 'id="today-orders">2<' in page
    assert 'id="today-refunds">0 MMK<' in page
    assert f"<td>cash</td><td>2</td><td>{Money(gross, 'MMK')}</td>" in page
    alerts = page[page.index('id="alerts"'):]
    assert "<td>Mohinga</td><td>2</td><td>3</td>" in alerts  # the product's name, never its id
    assert "Sales report" in page[page.index('id="reports-module"'):]


def test_a_superuser_picks_the_restaurant_of_the_home_page(client, tenant, other_tenant, api):
    make_catalog(tenant.id)
    order = place(api)
    client.force_login(User.objects.create_superuser("root", password="pw-123456!"))

    mine = text(client.get(f"/admin/?tenant={tenant.id}"))
    theirs = text(client.get(f"/admin/?tenant={other_tenant.id}"))

    assert f'id="today-gross">{Money(order["totals"]["grand_total"]["amount"], "MMK")}<' in mine
    assert tenant.name in mine and 'id="tenant-picker"' in mine
    assert 'id="today-gross">0 MMK<' in theirs and other_tenant.name in theirs


def test_a_manager_never_sees_or_opens_operator_tools(client, tenant):
    client.force_login(staff(tenant, "boss"))
    index = client.get("/admin/").content.decode()
    for url in OPERATOR_TOOLS:
        assert url not in index
        assert client.get(url).status_code == 403, url


@pytest.mark.parametrize("as_group", [False, True])
def test_operators_see_their_tools(client, tenant, as_group):
    if as_group:
        user = staff(tenant, "ops")
        user.groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    else:
        user = User.objects.create_superuser("root", password="pw-123456!")
    client.force_login(user)
    index = client.get("/admin/").content.decode()
    for url in OPERATOR_TOOLS:
        assert url in index
        assert client.get(url).status_code == 200, url


def test_a_manager_added_by_a_manager_can_sign_in_as_created(client, tenant):
    client.force_login(staff(tenant, "boss"))
    response = client.post("/admin/accounts/user/add/", {
        "username": "shift-lead", "password1": "Mingalaba-2026!", "password2": "Mingalaba-2026!", "role": "manager",
        "usable_password": "true"})
    assert response.status_code == 302, text(response)[:2000]
    created = User.objects.get(username="shift-lead")
    assert created.tenant_id == tenant.id and created.is_staff and not created.is_superuser
    client.logout()
    assert client.login(username="shift-lead", password="Mingalaba-2026!")
    assert client.get("/admin/").status_code == 200


def test_a_waiter_added_by_a_manager_cannot_sign_in_to_the_back_office(client, tenant):
    client.force_login(staff(tenant, "boss"))
    client.post("/admin/accounts/user/add/", {
        "username": "waiter-1", "password1": "Mingalaba-2026!", "password2": "Mingalaba-2026!", "role": "waiter",
        "usable_password": "true"})
    assert not User.objects.get(username="waiter-1").is_staff


def test_view_site_leads_to_the_back_office_home(client, tenant):
    client.force_login(staff(tenant, "boss"))
    page = client.get("/admin/").content.decode()
    assert 'href="/"' in page  # "View site"
    home = client.get("/")
    assert home.status_code == 302 and home["Location"] == "/admin/"


def test_sales_report_by_product_names_what_was_sold_and_downloads_as_csv(client, tenant, api, other_tenant):
    make_catalog(tenant.id)
    order = place(api)
    client.force_login(staff(tenant, "boss"))
    today = order["placed_at"][:10]

    page = text(client.get(f"/admin/pos_core/order/sales-report/?date_from={today}&date_to={today}&group_by=product"))

    assert "<td>Mohinga</td> <td>2</td>" in page and "<td>Tea (Large)</td> <td>1</td>" in page
    assert f"Gross <strong>{Money(order['totals']['grand_total']['amount'], 'MMK')}</strong>" in page
    csv_response = client.get(f"/admin/pos_core/order/sales-report/?date_from={today}&date_to={today}"
                              f"&group_by=product&format=csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode().splitlines()
    assert lines[0] == "product_id,variant,name,quantity,orders,gross,refunds,net,currency"
    assert any(line.startswith("mohinga,,Mohinga,2,1,") for line in lines)


@pytest.mark.parametrize("query", ["date_from=2026-13-01&date_to=2026-01-01&group_by=day",
                                   "date_from=2026-03-01&date_to=2026-01-01&group_by=day",
                                   "date_from=2020-01-01&date_to=2026-01-01&group_by=day",
                                   "date_from=2026-01-01&date_to=2026-01-02&group_by=nonsense"])
def test_sales_report_refuses_bad_filters_in_plain_words(client, tenant, query):
    client.force_login(staff(tenant, "boss"))
    response = client.get(f"/admin/pos_core/order/sales-report/?{query}")
    assert response.status_code == 200
    assert 'class="errornote"' in response.content.decode() and 'id="report-rows"' not in response.content.decode()


def test_end_of_day_report_and_every_report_in_the_menu(client, tenant, api):
    make_catalog(tenant.id)
    order = place(api)
    client.force_login(staff(tenant, "boss"))
    page = text(client.get(f"/admin/pos_core/order/end-of-day/?day={order['placed_at'][:10]}"))
    assert f"<th>Gross</th><td>{Money(order['totals']['grand_total']['amount'], 'MMK')}</td>" in page
    assert "<td>cash</td><td>1</td>" in page
    assert 'class="errornote"' in text(client.get("/admin/pos_core/order/end-of-day/?day=yesterday"))
    menu = text(client.get("/admin/"))
    for title, url in [("Sales report", "/admin/pos_core/order/sales-report/"),
                       ("End of day", "/admin/pos_core/order/end-of-day/"),
                       ("Shifts and Z reports", "/admin/payment/shift/")]:
        assert f'href="{url}"' in menu and title in menu
        assert client.get(url).status_code == 200


def test_a_manager_reads_only_their_own_restaurants_reports(client, tenant, other_tenant, other_api):
    inventory.create_product(tenant_id=other_tenant.id, product_id="their-tea", price=900,
                             names={"en": "Their tea", "my": "လက်ဖက်ရည်"})
    inventory.adjust_stock(tenant_id=other_tenant.id, product_id="their-tea", variant=None, kind="receive",
                           quantity=5, reason="delivery", actor="test")
    theirs = place(other_api, items=[{"product_id": "their-tea", "quantity": 1}])
    client.force_login(staff(tenant, "boss"))
    day = theirs["placed_at"][:10]
    for url in [f"/admin/pos_core/order/sales-report/?date_from={day}&date_to={day}&group_by=product",
                f"/admin/pos_core/order/sales-report/?date_from={day}&date_to={day}&group_by=product&tenant="
                f"{other_tenant.id}", f"/admin/pos_core/order/end-of-day/?day={day}&tenant={other_tenant.id}",
                f"/admin/?tenant={other_tenant.id}"]:
        page = client.get(url).content.decode()
        assert "Their tea" not in page and other_tenant.name not in page, url
    assert client.get(f"/admin/pos_core/order/{theirs['id']}/change/").status_code in (302, 404)
    assert client.get(f"/admin/pos_core/order/{theirs['id']}/refund/").status_code in (302, 404)


def test_low_stock_alerts_name_their_products_in_the_admin(client, tenant, api):
    make_catalog(tenant.id)
    place(api, items=[{"product_id": "tea", "variant": "large", "quantity": 9}],
          payment={"method": "cash", "tendered": 50000})
    drain()
    client.force_login(staff(tenant, "boss"))
    listing = client.get("/admin/pos_core/lowstockalert/")
    page = text(listing)
    assert listing.context["cl"].result_count == 1, page[page.find("result_list"):][:500]
    assert "Tea (Large)" in page[page.find('id="result_list"'):]
    alert = listing.context["cl"].result_list[0]
    assert "Tea (Large)" in text(client.get(f"/admin/pos_core/lowstockalert/{alert.pk}/change/"))


def test_deleting_a_product_on_a_menu_warns_and_takes_it_off_the_menu(client, tenant):
    from modules.restaurant import api as restaurant
    from modules.restaurant.api import ItemSpec, SectionSpec

    make_catalog(tenant.id)
    menu = restaurant.create_menu(tenant_id=tenant.id, name="All day", sections=[SectionSpec(names={"en": "Mains"})])
    restaurant.add_menu_item(tenant_id=tenant.id, section_id=menu.sections[0].id, item=ItemSpec(product_id="mohinga"))
    client.force_login(staff(tenant, "boss"))

    page = text(client.get("/admin/inventory/product/mohinga/delete/"))
    assert "Mohinga is still in use" in page and "on the menu All day (Mains)" in page
    assert 'name="take_off_menus"' in page
    response = client.post("/admin/inventory/product/mohinga/delete/", {"post": "yes", "take_off_menus": "1"},
                           follow=True)
    said = " ".join(str(m) for m in response.context["messages"])
    assert "Mohinga was taken off 1 menu item(s)" in said
    assert inventory.get_products(tenant_id=tenant.id, product_ids=["mohinga"]) == {}
    assert restaurant.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0].items == ()
    # a product on no menu is deleted the plain way; its stock is a click away from its page
    assert "still in use" not in text(client.get("/admin/inventory/product/tea/delete/"))
    tea_page = text(client.get("/admin/inventory/product/tea/change/"))
    assert 'href="/admin/inventory/stockitem/?product_id__in=tea"' in tea_page


def test_a_manager_sets_up_a_kitchen_station_by_names_and_categories(client, tenant):
    from modules.pos_core.models import KitchenStation
    from pos.tenancy import tenant_context

    make_catalog(tenant.id)
    client.force_login(staff(tenant, "boss"))
    page = text(client.get("/admin/pos_core/kitchenstation/add/"))
    assert 'name="name_my"' in page and 'value="noodles"' in page and "Noodles" in page
    response = client.post("/admin/pos_core/kitchenstation/add/", {
        "key": "noodle-bar", "name_en": "Noodle bar", "name_my": "ခေါက်ဆွဲဘား", "categories": ["noodles"],
        "position": "0"})
    assert response.status_code == 302, text(response)[:3000]
    with tenant_context(tenant.id):
        station = KitchenStation.objects.get(key="noodle-bar")
    assert station.names == {"en": "Noodle bar", "my": "ခေါက်ဆွဲဘား"} and station.category_ids == ["noodles"]
    assert "Noodle bar / ခေါက်ဆွဲဘား" in text(client.get("/admin/pos_core/kitchenstation/"))
