"""Batched imports: many categories and products with their opening stock, one transaction per batch, the ledger
and the outbox kept as by the one-at-a-time api, idempotent by id."""

import re

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from modules.inventory import api
from modules.inventory.models import Movement, Product, StockItem
from pos.models import OutboxEvent
from pos.tenancy import all_tenants

from .factories import names, sized
from .helpers import assert_ledger_agrees, events

pytestmark = pytest.mark.django_db(databases="__all__")


def documents(count: int, *, category_id: str | None = None, start: int = 0) -> list[dict]:
    docs = []
    for n in range(start, start + count):
        if n % 3 == 0:
            docs.append({"id": f"tea-{n}", "names": names(f"Tea {n}"), "price": 1500, "category_id": category_id,
                         "variants": sized(1500, 2000), "opening_stock": {"small": n + 1, "large": 0}})
        elif n % 3 == 1:
            docs.append({"id": f"noodle-{n}", "names": names(f"Noodle {n}"), "price": 2500 + n,
                         "category_id": category_id, "opening_stock": n + 2, "threshold": 3})
        else:
            docs.append({"id": f"water-{n}", "names": names(f"Water {n}"), "price": 500, "track_stock": False})
    return docs


def test_import_creates_products_with_stock_through_the_ledger_and_events(tenant):
    cats = api.import_categories(tenant_id=tenant.id, categories=[{"id": "drinks", "names": names("Drinks")}])
    result = api.import_products(tenant_id=tenant.id, products=documents(6, category_id=cats.ids["drinks"]),
                                 actor="import:test")
    assert result.created == ("tea-0", "noodle-1", "water-2", "tea-3", "noodle-4", "water-5")
    assert result.existing == () and result.ids["tea-3"] == "tea-3"
    catalog = api.get_products(tenant_id=tenant.id, product_ids=list(result.ids.values()))
    assert catalog["tea-3"].variant("small").stock_level == 4 and catalog["tea-3"].variant("large").stock_level == 0
    assert catalog["noodle-4"].stock_level == 6 and catalog["noodle-4"].price.amount == 2504
    assert catalog["noodle-1"].category_names == names("Drinks") and catalog["water-2"].track_stock is False
    levels = api.get_stock_levels(tenant_id=tenant.id, items=[("noodle-1", None), ("tea-0", "large")])
    assert (levels[("noodle-1", None)].on_hand, levels[("noodle-1", None)].threshold) == (3, 3)
    assert levels[("tea-0", "large")].sequence == 0  # nothing received, nothing in the ledger
    assert assert_ledger_agrees() == 6
    with all_tenants():
        receipts = Movement.objects.using("inventory").filter(kind="receive")
        assert {m.actor for m in receipts} == {"import:test"} and {m.reason for m in receipts} == {"opening stock"}
    stocked = events("inventory.stock_changed")
    assert sorted((e["product_id"], e["variant"], e["level"], e["sequence"]) for e in stocked) == [
        ("noodle-1", None, 3, 1), ("noodle-4", None, 6, 1), ("tea-0", "small", 1, 1), ("tea-3", "small", 4, 1)]
    assert len(events("inventory.product_updated", changed=["created"])) == 6
    assert api.search_products(tenant_id=tenant.id, query="noodle 4 (my)")[0].id == "noodle-4"


def test_inserts_per_batch_do_not_grow_with_its_size(tenant):
    """Products, stock items, ledger rows, outbox events and their deliveries: one INSERT each, whatever the
    batch's size (on PostgreSQL they are all one statement; SQLite splits an
    INSERT beyond 999 parameters, hence batches that fit it here)."""
    def inserts(count: int, start: int) -> tuple[int, list[str]]:
        with CaptureQueriesContext(connections["inventory"]) as queries:
            api.import_products(tenant_id=tenant.id, products=documents(count, start=start), actor="import")
        writes = [q["sql"] for q in queries if q["sql"].startswith(("INSERT", "WITH"))]
        return len(writes), sorted(re.findall(r'INSERT INTO "(\w+)"', " ".join(writes)))

    small = inserts(3, 0)
    assert small == inserts(30, 100)
    assert small[1] == sorted(["inventory_product", "inventory_stockitem", "inventory_movement", "pos_outboxevent",
                               "pos_eventdelivery"])
    assert small[0] == (1 if connections["inventory"].vendor == "postgresql" else 5)


def test_a_repeated_batch_adds_nothing_and_reports_what_exists(tenant):
    api.import_products(tenant_id=tenant.id, products=documents(4), actor="import")
    before = (OutboxEvent.objects.using("inventory").count(), Movement.unscoped.using("inventory").count())
    again = api.import_products(tenant_id=tenant.id, products=documents(6), actor="import")
    assert again.existing == ("tea-0", "noodle-1", "water-2", "tea-3") and again.created == ("noodle-4", "water-5")
    assert OutboxEvent.objects.using("inventory").count() == before[0] + 2 + 1  # two products, one stock item
    assert Movement.unscoped.using("inventory").count() == before[1] + 1
    assert api.get_stock_levels(tenant_id=tenant.id, items=[("tea-3", "small")])[("tea-3", "small")].on_hand == 4
    assert assert_ledger_agrees() == 6


def test_an_id_another_restaurant_holds_is_prefixed_and_found_again(tenant, other_tenant):
    api.import_products(tenant_id=other_tenant.id, products=documents(2), actor="import")
    first = api.import_products(tenant_id=tenant.id, products=documents(2), actor="import")
    assert first.created == ("tea-0", "noodle-1") and first.ids["tea-0"] == f"{tenant.id.hex[:8]}-tea-0"
    second = api.import_products(tenant_id=tenant.id, products=documents(2), actor="import")
    assert second.existing == ("tea-0", "noodle-1") and second.ids == first.ids
    assert api.get_product(tenant_id=other_tenant.id, product_id="tea-0").names == names("Tea 0")


@pytest.mark.parametrize("bad, field", [
    ({"id": "x", "names": {"en": "No Burmese"}, "price": 100}, "products[1].names"),
    ({"id": "x", "names": names("Float"), "price": 10.5}, "products[1].price"),
    ({"id": "x", "names": names("Neg"), "price": 100, "opening_stock": -3}, "products[1].opening_stock."),
    ({"id": "x", "names": names("Var"), "price": 100, "variants": sized(), "opening_stock": 4},
     "products[1].opening_stock"),
    ({"id": "x", "names": names("Untracked"), "price": 100, "track_stock": False, "opening_stock": 4},
     "products[1].opening_stock"),
    ({"id": "tea-0", "names": names("Twice"), "price": 100}, "products[1].id"),
    ({"names": names("No id"), "price": 100}, "products[1].id"),
])
def test_a_bad_entry_rejects_the_whole_batch_and_writes_nothing(tenant, bad, field):
    with pytest.raises(api.InvalidProduct) as caught:
        api.import_products(tenant_id=tenant.id, products=[documents(1)[0], bad], actor="import")
    assert any(e["field"].startswith(field) for e in caught.value.extra["errors"]), caught.value.extra
    with all_tenants():
        assert not Product.objects.using("inventory").exists() and not StockItem.objects.using("inventory").exists()
    assert not OutboxEvent.objects.using("inventory").exists()


def test_an_unknown_category_rejects_the_batch(tenant, other_tenant):
    theirs = api.import_categories(tenant_id=other_tenant.id, categories=[{"id": "food", "names": names("Food")}])
    with pytest.raises(api.CategoryNotFound):
        api.import_products(tenant_id=tenant.id, products=documents(1, category_id=theirs.ids["food"]),
                            actor="import")
    with all_tenants():
        assert not Product.objects.using("inventory").exists()


def test_categories_import_is_idempotent_and_validated(tenant):
    first = api.import_categories(tenant_id=tenant.id, categories=[
        {"id": "noodles", "names": names("Noodles"), "position": 2}, {"id": "rice", "names": names("Rice")}])
    again = api.import_categories(tenant_id=tenant.id, categories=[{"id": "noodles", "names": names("Other")}])
    assert first.created == ("noodles", "rice") and again.existing == ("noodles",)
    assert [c.names["en"] for c in api.list_categories(tenant_id=tenant.id)] == ["Rice", "Noodles"]
    with pytest.raises(api.InvalidProduct) as caught:
        api.import_categories(tenant_id=tenant.id, categories=[{"id": "x", "names": {"en": "Only"}, "position": "1"}])
    assert {e["field"] for e in caught.value.extra["errors"]} == {"categories[0].names", "categories[0].position"}
