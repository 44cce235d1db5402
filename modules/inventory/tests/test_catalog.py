"""Products as documents: validation, versions, categories, search, events."""

import pytest

from conftest import make_tenant
from modules.inventory import api
from modules.inventory.models import Product, StockItem
from pos.money import Money
from pos.tenancy import all_tenants

from .factories import category, names, product, sized
from .helpers import events

pytestmark = pytest.mark.django_db(databases="__all__")


def count_rows() -> tuple[int, int]:
    with all_tenants():
        return Product.objects.using("inventory").count(), StockItem.objects.using("inventory").count()


def test_product_document_round_trips_with_variants_options_and_attributes(tenant):
    noodles = category(tenant, "Noodles")
    extras = [{"key": "extras", "names": names("Extras"), "min_select": 0, "max_select": 2,
               "choices": [{"key": "egg", "names": names("Egg"), "price_delta": 500},
                           {"key": "fritter", "names": names("Fritter"), "price_delta": 300}]}]
    variants = sized()
    variants[1]["option_groups"] = [{"key": "bowl", "names": names("Bowl"), "min_select": 1, "max_select": 1,
                                     "choices": [{"key": "clay", "names": names("Clay"), "price_delta": 200}]}]
    info = api.create_product(
        tenant_id=tenant.id, product_id="mohinga", names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"},
        descriptions={"en": "Fish noodle soup"}, price=Money(2500, "MMK"), category_id=noodles.id,
        variants=variants, option_groups=extras,
        attributes={"halal": True, "nutrition": {"kcal": 450}, "images": ["https://img.example/m.jpg"]})
    assert info.id == "mohinga" and info.version == 1
    assert info.names["my"] == "မုန့်ဟင်းခါး" and info.category_names == noodles.names
    assert info.price == Money(2500, "MMK") and info.variant("large").price == Money(3500, "MMK")
    assert info.option_groups[0].choices[0].price_delta == Money(500, "MMK")
    assert info.variant("large").option_groups[0].min_select == 1
    assert info.attributes["nutrition"] == {"kcal": 450}
    assert info.stock_level is None and info.variant("small").stock_level == 0
    assert info.is_sold_out  # nothing received yet
    got = api.get_products(tenant_id=tenant.id, product_ids=["mohinga", "nope"])
    assert list(got) == ["mohinga"] and got["mohinga"] == info
    assert events("inventory.product_updated", product_id="mohinga")[0]["changed"] == ["created"]


@pytest.mark.parametrize("bad, field", [
    ({"names": {"en": "Only English"}}, "names"),
    ({"price": 2500.0}, "price"),
    ({"price": "2500"}, "price"),
    ({"price": Money(10, "USD")}, "price"),
    ({"attributes": {"fat_g": 1.5}}, "attributes.fat_g"),
    ({"attributes": "halal"}, "attributes"),
    ({"variants": [{"key": "small", "names": {"en": "S"}, "price": 1}]}, "variants[0].names"),
])
def test_invalid_documents_are_refused_and_nothing_is_written(tenant, bad, field):
    before = count_rows()
    document = {"names": names("Shan noodles"), "price": 3000, **bad}
    with pytest.raises(api.InvalidProduct) as caught:
        api.create_product(tenant_id=tenant.id, **document)
    assert field in [e["field"] for e in caught.value.extra["errors"]]
    assert count_rows() == before
    assert not events("inventory.product_updated")


def test_unknown_category_and_taken_id_are_refused(tenant, other_tenant):
    with pytest.raises(api.CategoryNotFound):
        product(tenant, category_id="ghost")
    theirs = category(other_tenant, "Theirs")
    with pytest.raises(api.CategoryNotFound):  # another tenant's category is not ours
        product(tenant, category_id=theirs.id)
    product(tenant, product_id="tea")
    with pytest.raises(api.ProductExists):
        product(tenant, product_id="tea")


def test_locales_follow_the_tenant():
    thai = make_tenant(locales=["en", "th"], currency="THB")
    with pytest.raises(api.InvalidProduct):
        product(thai, names={"en": "Pad thai", "my": "x"})
    info = product(thai, names={"en": "Pad thai", "th": "ผัดไทย"}, price=12050)
    assert info.price == Money(12050, "THB")


def test_update_with_current_version_applies_and_publishes_changed_fields(tenant):
    info = product(tenant, "Tea", price=1000)
    updated = api.update_product(tenant_id=tenant.id, product_id=info.id, expected_version=1,
                                 changes={"price": 1200, "names": {"en": "Milk tea", "my": "လက်ဖက်ရည်"}})
    assert updated.version == 2 and updated.price.amount == 1200
    assert api.search_products(tenant_id=tenant.id, query="လက်ဖက်")[0].id == info.id
    assert events("inventory.product_updated", product_id=info.id)[-1]["changed"] == ["names", "price"]


def test_stale_version_is_refused_with_409_and_not_applied(tenant):
    info = product(tenant, "Tea", price=1000)
    api.update_product(tenant_id=tenant.id, product_id=info.id, expected_version=1, changes={"price": 1100})
    with pytest.raises(api.StaleVersion) as caught:
        api.update_product(tenant_id=tenant.id, product_id=info.id, expected_version=1, changes={"price": 9999})
    assert caught.value.status == 409 and caught.value.extra["current_version"] == 2
    assert api.get_product(tenant_id=tenant.id, product_id=info.id).price.amount == 1100


def test_adding_a_variant_creates_its_stock_item(tenant):
    info = product(tenant, "Juice", variants=sized()[:1])
    variants = [*sized()[:1], {"key": "jug", "names": names("Jug"), "price": 6000}]
    updated = api.update_product(tenant_id=tenant.id, product_id=info.id, expected_version=1,
                                 changes={"variants": variants})
    assert updated.variant("jug").stock_level == 0
    levels = api.get_stock_levels(tenant_id=tenant.id, items=[(info.id, "jug")])
    assert levels[(info.id, "jug")].threshold == 5


def test_other_tenants_products_are_invisible(tenant, other_tenant):
    mine = product(tenant, "Mohinga")
    assert api.get_products(tenant_id=other_tenant.id, product_ids=[mine.id]) == {}
    with pytest.raises(api.ProductNotFound):
        api.get_product(tenant_id=other_tenant.id, product_id=mine.id)
    with pytest.raises(api.ProductNotFound):
        api.update_product(tenant_id=other_tenant.id, product_id=mine.id, expected_version=1, changes={"price": 1})
    assert api.list_catalog(tenant_id=other_tenant.id).total == 0
    assert api.search_products(tenant_id=other_tenant.id, query="mohinga") == []


def test_catalog_filters_and_text_search_in_any_locale(tenant):
    noodles, drinks = category(tenant, "Noodles", position=1), category(tenant, "Drinks", position=2)
    product(tenant, names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, category_id=noodles.id, position=1)
    product(tenant, names={"en": "Shan noodles", "my": "ရှမ်းခေါက်ဆွဲ"}, category_id=noodles.id, position=2)
    product(tenant, names={"en": "Lime juice", "my": "သံပုရာရည်"}, category_id=drinks.id, is_active=False)
    assert api.list_catalog(tenant_id=tenant.id).total == 3
    assert [p.names["en"] for p in api.list_catalog(tenant_id=tenant.id, category_id=noodles.id).items] == [
        "Mohinga", "Shan noodles"]
    assert [p.names["en"] for p in api.list_catalog(tenant_id=tenant.id, active=False).items] == ["Lime juice"]
    assert [p.names["en"] for p in api.list_catalog(tenant_id=tenant.id, query="SHAN").items] == ["Shan noodles"]
    assert [p.names["en"] for p in api.list_catalog(tenant_id=tenant.id, query="ခေါက်ဆွဲ").items] == ["Shan noodles"]
    page = api.list_catalog(tenant_id=tenant.id, limit=1, offset=1)
    assert page.total == 3 and len(page.items) == 1
    assert [c.names["en"] for c in api.list_categories(tenant_id=tenant.id)] == ["Noodles", "Drinks"]


def test_seed_demo_catalog_is_idempotent(tenant):
    first = api.seed_demo_catalog(tenant_id=tenant.id)
    assert "9 products created" in first
    catalog = api.list_catalog(tenant_id=tenant.id, limit=100)
    second = api.seed_demo_catalog(tenant_id=tenant.id)
    assert "already seeded" in second
    assert api.list_catalog(tenant_id=tenant.id, limit=100) == catalog
    mohinga = api.search_products(tenant_id=tenant.id, query="မုန့်ဟင်းခါး")[0]
    assert mohinga.variant("small").stock_level == 40 and mohinga.price.currency == "MMK"
    tea = api.search_products(tenant_id=tenant.id, query="milk tea")[0]
    assert {v.key for v in tea.variants} == {"small", "large"}
    assert {c.names["en"] for c in api.list_categories(tenant_id=tenant.id)} == {"Noodles", "Rice", "Drinks", "Snacks"}


def test_restaurants_pick_the_same_ids_without_learning_of_each_other(tenant, other_tenant):
    from modules.inventory import api as inventory
    from modules.inventory.errors import ProductExists

    names = {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}
    mine = inventory.create_product(tenant_id=tenant.id, product_id="mohinga", names=names, price=3000)
    theirs = inventory.create_product(tenant_id=other_tenant.id, product_id="mohinga", names=names, price=2800)
    assert mine.id == "mohinga"
    assert theirs.id != "mohinga" and theirs.id.endswith("-mohinga")
    assert [p.id for p in inventory.search_products(tenant_id=other_tenant.id, query="mohinga")] == [theirs.id]
    with pytest.raises(ProductExists):  # taken in one's own restaurant is a plain conflict
        inventory.create_product(tenant_id=other_tenant.id, product_id=theirs.id, names=names, price=1)
    with pytest.raises(ProductExists):
        inventory.create_product(tenant_id=tenant.id, product_id="mohinga", names=names, price=1)
    cat_mine = inventory.create_category(tenant_id=tenant.id, names={"en": "Noodles", "my": "ခေါက်ဆွဲ"},
                                         category_id="noodles")
    cat_theirs = inventory.create_category(tenant_id=other_tenant.id, names={"en": "Noodles", "my": "ခေါက်ဆွဲ"},
                                           category_id="noodles")
    assert cat_mine.id == "noodles" and cat_theirs.id != "noodles"
