"""Reading, refunding, receipts, reports, alerts and stock levels through the terminal API; tenant isolation."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connections
from django.utils import timezone

from modules.inventory import api as inventory
from modules.pos_core import services
from modules.pos_core.models import LowStockAlert
from pos.tenancy import all_tenants

from .conftest import available, new_key, order_body

pytestmark = pytest.mark.django_db(databases="__all__")


def place(api, **overrides):
    response = api.post("/api/v1/orders", order_body(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert response.status_code == 201, response.json()
    return response.json()


def today() -> str:
    return timezone.now().astimezone(dt.timezone(dt.timedelta(hours=6, minutes=30))).date().isoformat()


def test_get_and_list_orders_with_filters_and_no_n_plus_one(api, catalog, table, django_assert_max_num_queries):
    first = place(api)
    second = place(api, table_id=table.id)
    assert api.get(f"/api/v1/orders/{first['id']}").json()["id"] == first["id"]
    for _ in range(3):
        place(api)
    with django_assert_max_num_queries(5, connection=connections["pos_core"]):
        listed = api.get("/api/v1/orders").json()
    assert listed["count"] == 5 and len(listed["results"][0]["items"]) == 2
    assert [o["id"] for o in api.get("/api/v1/orders?status=open").json()["results"]] == [second["id"]]
    assert [o["id"] for o in api.get(f"/api/v1/orders?table_id={table.id}").json()["results"]] == [second["id"]]
    assert api.get(f"/api/v1/orders?date_from={today()}&date_to={today()}").json()["count"] == 5
    assert api.get("/api/v1/orders?date_from=2001-01-01&date_to=2001-01-02").json()["count"] == 0
    assert api.get("/api/v1/orders?date_from=2001-01-02&date_to=2001-01-01").status_code == 400
    assert api.get("/api/v1/orders?limit=2").json()["next"]


def test_tab_closed_completes_the_tabs_orders(api, tenant, catalog, table):
    order = place(api, table_id=table.id)
    services.orders_complete_tab(tenant_id=tenant.id, table_id=table.id, order_ids=[order["id"], "junk"])
    assert api.get(f"/api/v1/orders/{order['id']}").json()["status"] == "completed"


def test_partial_then_full_refund_with_restock(api, manager_api, tenant, catalog):
    order = place(api)
    tea = next(i for i in order["items"] if i["product_id"] == "tea")
    partial = manager_api.post(f"/api/v1/orders/{order['id']}/refund",
                               {"items": [{"item_id": tea["id"], "quantity": 1}], "restock": True, "reason": "cold"},
                               format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert partial.status_code == 201, partial.json()
    assert partial.json()["amount"]["amount"] == 1500
    assert partial.json()["order"]["status"] == "partially_refunded"
    assert available(tenant.id, "tea", "large") == 10
    again = manager_api.post(f"/api/v1/orders/{order['id']}/refund",
                             {"items": [{"item_id": tea["id"], "quantity": 1}], "restock": True, "reason": "cold"},
                             format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert again.json()["id"] == partial.json()["id"]
    assert available(tenant.id, "tea", "large") == 10
    stale = manager_api.post(f"/api/v1/orders/{order['id']}/refund", {"version": 1}, format="json",
                             HTTP_IDEMPOTENCY_KEY="r-stale")
    assert stale.status_code == 409
    rest = manager_api.post(f"/api/v1/orders/{order['id']}/refund", {}, format="json", HTTP_IDEMPOTENCY_KEY="r2")
    assert rest.status_code == 201
    assert rest.json()["amount"]["amount"] == 7000
    assert rest.json()["order"]["status"] == "refunded"
    over = manager_api.post(f"/api/v1/orders/{order['id']}/refund", {"amount": 1}, format="json",
                            HTTP_IDEMPOTENCY_KEY="r3")
    assert over.status_code == 422


def test_receipt_in_the_tenants_locales(api, catalog):
    order = place(api)
    receipt = api.get(f"/api/v1/orders/{order['id']}/receipt").json()
    assert receipt["locales"] == ["en", "my"]
    assert "Mohinga" in receipt["text"]["en"] and "မုန့်ဟင်းခါး" in receipt["text"]["my"]
    assert "8,500 MMK" in receipt["text"]["en"]


def test_a_price_change_after_the_order_changes_nothing_sold(api, tenant, catalog):
    order = place(api)
    before_receipt = api.get(f"/api/v1/orders/{order['id']}/receipt").json()
    before_report = api.get(f"/api/v1/reports/sales?from={today()}&to={today()}&group_by=product").json()
    product = inventory.get_products(tenant_id=tenant.id, product_ids=["mohinga"])["mohinga"]
    inventory.update_product(tenant_id=tenant.id, product_id="mohinga", expected_version=product.version,
                             changes={"price": 9999, "names": {"en": "Fancy Mohinga", "my": "မုန့်ဟင်းခါး"}})
    assert api.get(f"/api/v1/orders/{order['id']}").json() == order
    assert api.get(f"/api/v1/orders/{order['id']}/receipt").json() == before_receipt
    assert api.get(f"/api/v1/reports/sales?from={today()}&to={today()}&group_by=product").json() == before_report


def test_sales_report_groups_and_csv(api, manager_api, catalog):
    order = place(api)
    place(api, payment={"method": "card"})
    manager_api.post(f"/api/v1/orders/{order['id']}/refund", {"amount": 1000}, format="json",
                     HTTP_IDEMPOTENCY_KEY="rr")
    url = f"/api/v1/reports/sales?from={today()}&to={today()}"
    by_day = api.get(url + "&group_by=day").json()
    assert by_day["totals"] == {"quantity": 6, "gross": 17000, "refunds": 1000, "net": 16000}
    by_method = {r["payment_method"]: r for r in api.get(url + "&group_by=payment_method").json()["rows"]}
    assert by_method["cash"]["refunds"] == 1000 and by_method["card"]["net"] == 8500
    by_product = api.get(url + "&group_by=product").json()
    assert sum(r["gross"] for r in by_product["rows"]) == 17000
    by_category = {r["category_id"]: r for r in api.get(url + "&group_by=category").json()["rows"]}
    assert by_category["noodles"]["quantity"] == 4
    csv_response = api.get(url + "&group_by=day", HTTP_ACCEPT="text/csv")
    assert csv_response["Content-Type"].startswith("text/csv")
    lines = csv_response.content.decode().strip().splitlines()
    assert lines[0].startswith("day,quantity") and lines[1].endswith(",17000,1000,16000,MMK")
    assert api.get(url + "&group_by=day&format=csv").content == csv_response.content
    assert api.get(url + "&group_by=nonsense").status_code == 400
    assert api.get("/api/v1/reports/sales?from=2020-01-01").status_code == 400
    eod = api.get(f"/api/v1/reports/end-of-day?date={today()}").json()
    assert eod["orders"] == 2 and eod["gross"] == 17000 and eod["refunds"] == 1000 and eod["net"] == 16000


def test_stock_cache_applies_in_sequence_and_alerts_open_once(api, manager_api, tenant):
    apply = services.stock_level_apply
    assert apply(tenant_id=tenant.id, product_id="p1", variant=None, level=10, threshold=3, sequence=5)
    assert not apply(tenant_id=tenant.id, product_id="p1", variant=None, level=99, threshold=3, sequence=4)
    levels = api.get("/api/v1/stock-levels?items=p1").json()
    assert levels == [{"product_id": "p1", "variant": None, "level": 10, "threshold": 3, "sequence": 5,
                       "source": "cache"}]
    apply(tenant_id=tenant.id, product_id="p1", variant=None, level=2, threshold=3, sequence=6)
    apply(tenant_id=tenant.id, product_id="p1", variant=None, level=1, threshold=3, sequence=7)
    alerts = api.get("/api/v1/alerts?status=open").json()
    assert alerts["count"] == 1 and alerts["results"][0]["current_level"] == 1
    apply(tenant_id=tenant.id, product_id="p1", variant=None, level=8, threshold=3, sequence=8)
    assert api.get("/api/v1/alerts?status=open").json()["count"] == 0
    assert api.get("/api/v1/alerts?status=closed").json()["results"][0]["resolution"] == "restocked"
    apply(tenant_id=tenant.id, product_id="p1", variant=None, level=0, threshold=3, sequence=9)
    alert_id = api.get("/api/v1/alerts?status=open").json()["results"][0]["id"]
    assert api.post(f"/api/v1/alerts/{alert_id}/close", HTTP_IDEMPOTENCY_KEY="c1").status_code == 403  # cashier
    closed = manager_api.post(f"/api/v1/alerts/{alert_id}/close", HTTP_IDEMPOTENCY_KEY="c1")
    assert closed.status_code == 200 and closed.json()["status"] == "closed"
    with all_tenants():
        assert LowStockAlert.objects.count() == 2


def test_stock_levels_fall_back_to_inventory_on_a_miss(api, tenant, catalog):
    from django.core.cache import cache

    cache.clear()
    levels = api.get("/api/v1/stock-levels?items=mohinga,tea:large").json()
    assert [(r["product_id"], r["variant"], r["level"], r["source"]) for r in levels] == [
        ("mohinga", None, 10, "inventory"), ("tea", "large", 10, "inventory")]
    assert api.get("/api/v1/stock-levels?items=mohinga").json()[0]["source"] == "cache"


def test_every_endpoint_is_isolated_by_tenant(api, manager_api, other_api, tenant, catalog):
    order = place(api)
    services.stock_level_apply(tenant_id=tenant.id, product_id="p1", variant=None, level=0, threshold=3, sequence=1)
    with all_tenants():
        alert = LowStockAlert.objects.get()
    oid = order["id"]
    assert other_api.get(f"/api/v1/orders/{oid}").status_code == 404
    assert other_api.get(f"/api/v1/orders/{oid}/receipt").status_code == 404
    assert other_api.post(f"/api/v1/orders/{oid}/refund", {}, format="json",
                          HTTP_IDEMPOTENCY_KEY="x").status_code == 404
    assert other_api.get("/api/v1/orders").json()["count"] == 0
    assert other_api.get("/api/v1/alerts").json()["count"] == 0
    assert other_api.post(f"/api/v1/alerts/{alert.id}/close", HTTP_IDEMPOTENCY_KEY="y").status_code == 404
    assert other_api.get("/api/v1/reports/sales?from=2000-01-01&to=2000-12-31").json()["rows"] == []
    assert other_api.get(f"/api/v1/reports/sales?from={today()}&to={today()}").json()["totals"]["gross"] == 0
    assert other_api.get(f"/api/v1/reports/end-of-day?date={today()}").json()["orders"] == 0
    assert other_api.get("/api/v1/stock-levels?items=p1").json() == []
    assert other_api.post("/api/v1/orders", order_body(), format="json",
                          HTTP_IDEMPOTENCY_KEY="o1").status_code == 400  # their catalog has no mohinga
    assert api.get(f"/api/v1/orders/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/orders/not-a-uuid").status_code == 404
    assert api.get(f"/api/v1/orders/{oid}").json()["status"] == "completed"
