"""The managers' admin: per-locale names and structured variants, filters, search, the stock action,
the read-only ledger, and tenant scoping."""

import pytest
from django.test import Client

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.inventory.models import Movement, Product, StockItem
from pos.tenancy import all_tenants

from .factories import category, names, product, sized
from .helpers import assert_ledger_agrees

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def manager_client(tenant, username="mya") -> Client:
    accounts.create_manager(tenant_id=tenant.id, username=username, password="pw-Secret-123")
    client = Client()
    assert client.login(username=username, password="pw-Secret-123")
    return client


@pytest.fixture
def manager(tenant):
    return manager_client(tenant)


def product_form(**overrides) -> dict:
    data = {
        "product_id": "mohinga", "name_en": "Mohinga", "name_my": "မုန့်ဟင်းခါး", "description_en": "Fish soup",
        "description_my": "", "category_id": "", "price": "2500", "position": "1", "is_active": "on",
        "track_stock": "on", "version": "",
        "variant_0_key": "small", "variant_0_name_en": "Small", "variant_0_name_my": "အသေး", "variant_0_price": "2500",
        "variant_1_key": "large", "variant_1_name_en": "Large", "variant_1_name_my": "အကြီး", "variant_1_price": "3500",
        "attr_halal": "yes",
    }
    data.update(overrides)
    return data


def test_manager_adds_a_product_with_names_and_variants_without_json(manager, tenant):
    page = manager.get("/admin/inventory/product/add/")
    assert page.status_code == 200
    content = page.content.decode()
    assert 'name="name_my"' in content and 'name="variant_0_key"' in content
    response = manager.post("/admin/inventory/product/add/", product_form())
    assert response.status_code == 302, response.context["adminform"].form.errors
    info = inventory.get_product(tenant_id=tenant.id, product_id="mohinga")
    assert info.names == {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}
    assert [(v.key, v.price.amount, v.names["my"]) for v in info.variants] == [("small", 2500, "အသေး"),
                                                                               ("large", 3500, "အကြီး")]
    assert info.attributes == {"halal": True} and info.descriptions == {"en": "Fish soup"}


@pytest.mark.parametrize("overrides, message", [
    ({"name_my": ""}, "name_my"),
    ({"variant_1_name_my": ""}, "variant_1_name_my"),
    ({"attr_images": "not a link"}, "attr_images"),
    ({"optgroup_0_0": "extras", "optgroup_0_1": "Extras", "optgroup_0_2": "အပို", "optgroup_0_4": "2",
      "optgroup_0_choice_0_0": "egg", "optgroup_0_choice_0_1": "Egg", "optgroup_0_choice_0_2": "ဥ"}, "optgroup_0"),
    ({"optgroup_0_0": "extras", "optgroup_0_1": "Extras", "optgroup_0_2": "အပို",
      "optgroup_0_choice_0_0": "egg", "optgroup_0_choice_0_1": "Egg"}, "optgroup_0_choice_0"),
    ({"variant_0_key": "Small Bowl"}, "variant_0_key"),
])
def test_invalid_product_forms_show_errors_and_write_nothing(manager, overrides, message):
    response = manager.post("/admin/inventory/product/add/", product_form(**overrides))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert message in form.errors or any(message in str(e) for e in form.non_field_errors())
    with all_tenants():
        assert not Product.objects.using("inventory").exists()


def test_manager_adds_option_groups_and_attributes_as_fields_and_edits_them_again(manager, tenant):
    form = product_form(**{
        "optgroup_0_0": "extras", "optgroup_0_1": "Extras", "optgroup_0_2": "အပို", "optgroup_0_3": "0",
        "optgroup_0_4": "2",
        "optgroup_0_choice_0_0": "egg", "optgroup_0_choice_0_1": "Egg", "optgroup_0_choice_0_2": "ဥ",
        "optgroup_0_choice_0_3": "500",
        "optgroup_0_choice_1_0": "fritter", "optgroup_0_choice_1_1": "Fritter", "optgroup_0_choice_1_2": "အကြော်",
        "optgroup_0_choice_1_3": "300",
        "attr_spicy_level": "3", "attr_allergens": "fish, peanut", "attr_images": "https://img.example/m.jpg",
        "nutrition_0_0": "kcal", "nutrition_0_1": "450", "fact_0_0": "origin", "fact_0_1": "Mandalay"})
    response = manager.post("/admin/inventory/product/add/", form)
    assert response.status_code == 302, response.context["adminform"].form.errors
    info = inventory.get_product(tenant_id=tenant.id, product_id="mohinga")
    (group,) = info.option_groups
    assert (group.key, group.names["my"], group.min_select, group.max_select) == ("extras", "အပို", 0, 2)
    assert [(c.key, c.names["en"], c.price_delta.amount) for c in group.choices] == [("egg", "Egg", 500),
                                                                                      ("fritter", "Fritter", 300)]
    assert info.attributes == {"halal": True, "spicy_level": 3, "allergens": ["fish", "peanut"],
                               "images": ["https://img.example/m.jpg"], "nutrition": {"kcal": 450},
                               "origin": "Mandalay"}
    page = manager.get("/admin/inventory/product/mohinga/change/").content.decode()
    assert 'value="fritter"' in page and 'value="Mandalay"' in page and 'value="kcal"' in page
    assert "option_groups" not in page and '{"halal"' not in page  # no JSON to edit
    # clearing a choice's key removes it, everything else is kept
    edit = {**form, "version": "1", "optgroup_0_choice_1_0": "", "optgroup_0_4": "1"}
    assert manager.post("/admin/inventory/product/mohinga/change/", edit).status_code == 302
    edited = inventory.get_product(tenant_id=tenant.id, product_id="mohinga")
    assert [c.key for c in edited.option_groups[0].choices] == ["egg"] and edited.attributes == info.attributes


def test_manager_edits_with_the_version_and_a_stale_form_is_refused(manager, tenant):
    info = product(tenant, names=names("Tea"), product_id="tea", variants=sized(1000, 1500))
    page = manager.get("/admin/inventory/product/tea/change/")
    assert page.status_code == 200 and 'value="Tea"' in page.content.decode()
    form = product_form(product_id="tea", name_en="Milk tea", version="1", variant_0_price="1200",
                        variant_1_key="large", variant_1_delete="on")
    assert manager.post("/admin/inventory/product/tea/change/", form).status_code == 302
    updated = inventory.get_product(tenant_id=tenant.id, product_id="tea")
    assert updated.version == 2 and updated.names["en"] == "Milk tea"
    assert [(v.key, v.price.amount) for v in updated.variants] == [("small", 1200)]
    stale = manager.post("/admin/inventory/product/tea/change/", {**form, "name_en": "Lost update"})
    assert stale.status_code == 200
    assert "Someone changed this product" in str(stale.context["adminform"].form.non_field_errors())
    assert inventory.get_product(tenant_id=tenant.id, product_id="tea").names["en"] == "Milk tea"
    assert info.version == 1


def test_list_filters_and_search_in_every_locale(manager, tenant):
    drinks = category(tenant, "Drinks")
    product(tenant, names={"en": "Milk tea", "my": "လက်ဖက်ရည်"}, category_id=drinks.id, stock=50)
    product(tenant, names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, stock=3)
    product(tenant, names={"en": "Samosa", "my": "စမူဆာ"})
    product(tenant, names={"en": "Old dish", "my": "ဟောင်း"}, is_active=False, stock=10)

    def listed(query: str) -> set[str]:
        response = manager.get("/admin/inventory/product/" + query)
        assert response.status_code == 200
        return {p.names["en"] for p in response.context["cl"].result_list}

    assert listed("") == {"Milk tea", "Mohinga", "Samosa", "Old dish"}
    assert listed(f"?category={drinks.id}") == {"Milk tea"}
    assert listed("?stock=low") == {"Mohinga", "Samosa"}
    assert listed("?stock=sold_out") == {"Samosa"}
    assert listed("?is_active__exact=0") == {"Old dish"}
    assert listed("?q=မုန့်") == {"Mohinga"}
    assert listed("?q=MILK") == {"Milk tea"}


def test_product_list_does_not_query_per_row(manager, tenant, django_assert_max_num_queries):
    from django.db import connections

    for n in range(12):
        product(tenant, f"Dish {n}", variants=sized(), stock={"small": n + 1})
    with django_assert_max_num_queries(8, connection=connections["inventory"]):
        assert manager.get("/admin/inventory/product/").status_code == 200


def test_stock_adjustment_action_uses_an_intermediate_form(manager, tenant):
    tea = product(tenant, "Tea", stock=5)
    with all_tenants():
        item = StockItem.objects.using("inventory").get(product_id=tea.id)
    page = manager.post("/admin/inventory/stockitem/", {"action": "adjust_stock", "_selected_action": [str(item.pk)]})
    assert page.status_code == 200 and b"Apply adjustment" in page.content
    done = manager.post("/admin/inventory/stockitem/", {
        "action": "adjust_stock", "_selected_action": [str(item.pk)], "apply": "yes", "kind": "receive",
        "quantity": "12", "reason": "delivery"})
    assert done.status_code == 302
    counted = manager.post("/admin/inventory/stockitem/", {
        "action": "adjust_stock", "_selected_action": [str(item.pk)], "apply": "yes", "kind": "count",
        "quantity": "15", "reason": ""})
    assert counted.status_code == 302
    with all_tenants():
        ledger = list(Movement.objects.using("inventory").filter(product_id=tea.id).order_by("sequence")
                      .values_list("kind", "on_hand_delta", "actor"))
    assert ledger[1:] == [("receive", 12, "staff:mya"), ("count", -2, "staff:mya")]
    assert_ledger_agrees()


def test_ledger_and_reservations_are_read_only(manager, tenant):
    tea = product(tenant, "Tea", stock=5)
    inventory.reserve_stock(tenant_id=tenant.id, lines=[inventory.StockLine(tea.id, None, 1)], key="k")
    with all_tenants():
        movement = Movement.objects.using("inventory").filter(product_id=tea.id).first()
    assert manager.get("/admin/inventory/movement/").status_code == 200
    assert manager.get("/admin/inventory/movement/add/").status_code == 403
    page = manager.get(f"/admin/inventory/movement/{movement.pk}/change/")
    assert page.status_code == 200 and b'name="_save"' not in page.content
    assert manager.post(f"/admin/inventory/movement/{movement.pk}/delete/", {"post": "yes"}).status_code == 403
    assert manager.get("/admin/inventory/reservation/").status_code == 200


def test_managers_see_only_their_restaurant(manager, tenant, other_tenant):
    product(tenant, names=names("Ours"), product_id="ours", stock=1)
    product(other_tenant, names=names("Theirs"), product_id="theirs", stock=1)
    listing = manager.get("/admin/inventory/product/").content.decode()
    assert "Ours" in listing and "Theirs" not in listing
    assert manager.get("/admin/inventory/product/theirs/change/").status_code in (302, 404)
    stock = manager.get("/admin/inventory/stockitem/").context["cl"].result_list
    assert {item.product_id for item in stock} == {"ours"}
    ledger = manager.get("/admin/inventory/movement/").context["cl"].result_list
    assert {movement.product_id for movement in ledger} == {"ours"}


def test_category_admin_names_per_locale(manager, tenant):
    response = manager.post("/admin/inventory/category/add/", {"name_en": "Snacks", "name_my": "သရေစာ",
                                                              "position": "3", "is_active": "on"})
    assert response.status_code == 302
    assert [c.names for c in inventory.list_categories(tenant_id=tenant.id)] == [{"en": "Snacks", "my": "သရေစာ"}]


def test_superuser_adds_a_product_for_a_chosen_restaurant(tenant, other_tenant):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_superuser(username="root", password="pw-Secret-123", email="root@example.com")
    client = Client()
    assert client.login(username="root", password="pw-Secret-123")
    response = client.post("/admin/inventory/product/add/", product_form(tenant=str(other_tenant.id)))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert inventory.get_product(tenant_id=other_tenant.id, product_id="mohinga").names["en"] == "Mohinga"
    assert inventory.get_products(tenant_id=tenant.id, product_ids=["mohinga"]) == {}


def test_product_action_opens_the_stock_of_the_selected_products(manager, tenant):
    soup = product(tenant, names=names("Mohinga"), product_id="soup", variants=sized(), stock={"small": 2})
    product(tenant, names=names("Tea"), product_id="tea", stock=1)
    response = manager.post("/admin/inventory/product/", {"action": "adjust_stock_of_products",
                                                          "_selected_action": [soup.id]})
    assert response.status_code == 302 and "product_id__in=soup" in response["Location"]
    listing = manager.get(response["Location"])
    assert {(i.product_id, i.variant) for i in listing.context["cl"].result_list} == {("soup", "small"),
                                                                                      ("soup", "large")}
    page = listing.content.decode()
    assert "Mohinga (Small)" in page and "Mohinga (Large)" in page  # names of the product and its variants


def test_a_taken_id_is_a_field_error_and_the_form_is_kept(manager, tenant):
    product(tenant, names=names("Mohinga"), product_id="mohinga")
    response = manager.post("/admin/inventory/product/add/", product_form(name_en="Mohinga special"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    assert "already has a product with the id 'mohinga'" in form.errors["product_id"][0]
    assert form["name_en"].value() == "Mohinga special"  # nothing typed is lost
    page = response.content.decode()
    assert "added successfully" not in page and "Not saved" not in page
    with all_tenants():
        assert Product.objects.using("inventory").count() == 1


def test_a_new_product_is_named_in_the_message_and_a_duplicate_name_is_warned(manager, tenant):
    product(tenant, names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, product_id="old-mohinga")
    response = manager.post("/admin/inventory/product/add/", product_form(), follow=True)
    said = [str(m) for m in response.context["messages"]]
    assert any("Mohinga" in m and "added successfully" in m and "“mohinga”" not in m for m in said), said
    assert any("Another product has the same name: Mohinga (old-mohinga)" in m for m in said), said
