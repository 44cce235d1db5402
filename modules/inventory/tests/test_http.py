"""Terminal API: catalog, categories, adjustments; problems for bad input; tenant isolation."""

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from conftest import make_terminal_client
from modules.inventory import api as inventory

from .factories import category, names, product, sized
from .helpers import assert_ledger_agrees, events

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"


def adjust(client, body, key="adj-1"):
    return client.post("/api/v1/inventory/adjustments", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def on_hand(tenant, product_id, variant=None):
    return inventory.get_stock_levels(tenant_id=tenant.id, items=[(product_id, variant)])[(product_id, variant)].on_hand


@pytest.fixture
def menu(tenant):
    noodles = category(tenant, "Noodles", position=1)
    drinks = category(tenant, "Drinks", position=2)
    soup = product(tenant, names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, category_id=noodles.id, position=1,
                   variants=sized(), stock={"small": 8, "large": 2})
    tea = product(tenant, names={"en": "Milk tea", "my": "လက်ဖက်ရည်"}, category_id=drinks.id, position=2, price=1000,
                  stock=20)
    juice = product(tenant, names={"en": "Lime juice", "my": "သံပုရာရည်"}, category_id=drinks.id, position=3,
                    is_active=False)
    return {"noodles": noodles, "drinks": drinks, "soup": soup, "tea": tea, "juice": juice}


def test_products_list_has_variants_stock_and_is_paginated(api, menu):
    response = api.get("/api/v1/catalog/products?limit=2")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3 and body["next"] and len(body["results"]) == 2
    soup = body["results"][0]
    assert soup["names"] == {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}
    assert soup["category_names"]["en"] == "Noodles"
    assert soup["price"] == {"amount": 2500, "currency": "MMK"}
    assert [(v["key"], v["price"]["amount"], v["stock_level"]) for v in soup["variants"]] == [
        ("small", 2500, 8), ("large", 3500, 2)]
    assert soup["stock_level"] is None and soup["version"] == 1
    assert body["results"][1]["stock_level"] == 20


@pytest.mark.parametrize("query, expected", [
    ("category={drinks}", ["Milk tea", "Lime juice"]),
    ("active=true", ["Mohinga", "Milk tea"]),
    ("active=false", ["Lime juice"]),
    ("q=MILK", ["Milk tea"]),
    ("q=လက်ဖက်", ["Milk tea"]),
    ("q=large", ["Mohinga"]),
    ("q=nothing-like-this", []),
])
def test_products_filters(api, menu, query, expected):
    response = api.get("/api/v1/catalog/products?" + query.format(drinks=menu["drinks"].id))
    assert response.status_code == 200
    assert [p["names"]["en"] for p in response.json()["results"]] == expected


def test_bad_filter_is_a_problem(api, menu):
    response = api.get("/api/v1/catalog/products?active=maybe")
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "active"


def test_list_queries_do_not_grow_with_page_size(api, tenant):
    drinks = category(tenant, "Drinks")
    for n in range(30):
        product(tenant, f"Tea {n}", category_id=drinks.id, variants=sized(), stock={"small": 3})
    counts = {}
    for size in (1, 5, 30):
        with CaptureQueriesContext(connections["inventory"]) as queries:
            response = api.get(f"/api/v1/catalog/products?limit={size}")
        assert response.status_code == 200 and len(response.json()["results"]) == size
        counts[size] = len(queries)
    assert counts[1] == counts[5] == counts[30] <= 4, counts


def test_list_query_count_is_capped(api, menu, django_assert_max_num_queries):
    with django_assert_max_num_queries(4, connection=connections["inventory"]):
        assert api.get("/api/v1/catalog/products?limit=200").status_code == 200


def test_product_detail_and_unknown_product(api, menu):
    response = api.get(f"/api/v1/catalog/products/{menu['soup'].id}")
    assert response.status_code == 200 and response.json()["variants"][1]["stock_level"] == 2
    missing = api.get("/api/v1/catalog/products/ghost")
    assert missing.status_code == 404 and missing["Content-Type"] == PROBLEM
    assert missing.json()["type"].endswith("product-not-found")


def test_categories_in_order(api, menu):
    response = api.get("/api/v1/catalog/categories")
    assert response.status_code == 200
    assert [c["names"]["en"] for c in response.json()["results"]] == ["Noodles", "Drinks"]


def test_receive_waste_and_count_through_the_api(api, manager_api, tenant, menu):
    soup = menu["soup"].id
    response = adjust(api, {"kind": "receive", "product_id": soup, "variant": "large", "quantity": 5,
                            "reason": "morning delivery"}, key="k1")
    assert response.status_code == 201, response.json()
    assert response.json()["on_hand"] == 7 and response.json()["variant"] == "large"
    response = adjust(manager_api, {"kind": "waste", "product_id": soup, "variant": "large", "quantity": 1}, key="k2")
    assert response.status_code == 201 and response.json()["available"] == 6
    # a count needs a manager (a cashier alone is refused; tests/test_roles.py covers the approval code)
    assert adjust(api, {"kind": "count", "product_id": menu["tea"].id, "counted": 18}, key="k3").status_code == 403
    response = adjust(manager_api, {"kind": "count", "product_id": menu["tea"].id, "counted": 18, "reason": "close"},
                      key="k4")
    assert response.status_code == 201 and response.json()["on_hand"] == 18
    assert events("inventory.stock_changed", product_id=menu["tea"].id)[-1]["reason"] == "count"
    assert_ledger_agrees()


def test_retried_adjustment_is_applied_once(api, tenant, menu):
    body = {"kind": "receive", "product_id": menu["tea"].id, "quantity": 5}
    first = adjust(api, body, key="retry-me")
    again = adjust(api, body, key="retry-me")
    assert first.status_code == again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert on_hand(tenant, menu["tea"].id) == 25
    assert adjust(api, {**body, "quantity": 6}, key="retry-me").status_code == 422
    assert api.post("/api/v1/inventory/adjustments", body, format="json").status_code == 400  # no key


def test_waiters_cannot_adjust_stock(tenant, menu):
    waiter = make_terminal_client(tenant, "waiter")
    response = adjust(waiter, {"kind": "receive", "product_id": menu["tea"].id, "quantity": 5})
    assert response.status_code == 403 and response["Content-Type"] == PROBLEM
    assert on_hand(tenant, menu["tea"].id) == 20


@pytest.mark.parametrize("body, status, field", [
    ({"kind": "receive", "quantity": 0}, 400, "quantity"),
    ({"kind": "receive", "quantity": -3}, 400, "quantity"),
    ({"kind": "receive", "quantity": 2.5}, 400, "quantity"),
    ({"kind": "receive", "quantity": 2.0}, 400, "quantity"),
    ({"kind": "receive", "quantity": "2"}, 400, "quantity"),
    ({"kind": "receive"}, 400, "quantity"),
    ({"kind": "count", "quantity": 3}, 400, "counted"),
    ({"kind": "steal", "quantity": 3}, 400, "kind"),
    ({"kind": "receive", "quantity": 3, "product_id": "ghost"}, 404, None),
    ({"kind": "receive", "quantity": 3, "variant": "huge", "product_id": "{soup}"}, 404, None),
    ({"kind": "receive", "quantity": 3, "product_id": "{soup}"}, 400, None),  # variant required
    ({"kind": "waste", "quantity": 21}, 409, None),
    ({"kind": "count", "counted": -1}, 400, "counted"),
])
def test_bad_adjustments_are_problems_and_write_nothing(api, tenant, menu, body, status, field):
    body = {"product_id": menu["tea"].id, **body}
    body["product_id"] = body["product_id"].format(soup=menu["soup"].id)
    outbox_before = len(events("inventory.stock_changed"))
    response = adjust(api, body, key="bad")
    assert response.status_code == status, response.json()
    assert response["Content-Type"] == PROBLEM
    if field:
        assert field in [e["field"] for e in response.json()["errors"]]
    assert on_hand(tenant, menu["tea"].id) == 20 and on_hand(tenant, menu["soup"].id, "large") == 2
    assert len(events("inventory.stock_changed")) == outbox_before


def test_another_tenants_terminal_sees_and_changes_nothing(other_api, tenant, menu):
    soup = menu["soup"].id
    assert other_api.get("/api/v1/catalog/products").json()["count"] == 0
    assert other_api.get(f"/api/v1/catalog/products?category={menu['noodles'].id}").json()["results"] == []
    assert other_api.get("/api/v1/catalog/products?q=mohinga").json()["results"] == []
    response = other_api.get(f"/api/v1/catalog/products/{soup}")
    assert response.status_code == 404 and "Mohinga" not in response.content.decode()
    assert other_api.get("/api/v1/catalog/categories").json()["results"] == []
    response = adjust(other_api, {"kind": "waste", "product_id": soup, "variant": "small", "quantity": 1})
    assert response.status_code == 404
    response = adjust(other_api, {"kind": "count", "product_id": soup, "variant": "small", "counted": 0}, key="c")
    assert response.status_code == 404
    assert on_hand(tenant, soup, "small") == 8


def test_anonymous_requests_are_refused(client, menu):
    assert client.get("/api/v1/catalog/products").status_code == 401
    assert client.post("/api/v1/inventory/adjustments", {}, content_type="application/json").status_code == 401


def test_names_in_every_locale_are_served(api, tenant):
    product(tenant, names=names("Samosa", "စမူဆာ"))
    assert api.get("/api/v1/catalog/products?q=စမူ").json()["results"][0]["names"]["my"] == "စမူဆာ"
