"""Historical orders imported with their snapshots, without the saga: shown by the terminal API as sold (with
the flags of their lines), totals allocated so reports add up, idempotent by key, a bad batch writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from modules.pos_core import api as pos_core
from modules.pos_core.models import Order, OrderSaga
from pos.models import OutboxEvent
from pos.tenancy import all_tenants

pytestmark = pytest.mark.django_db(databases="__all__")

WHEN = datetime(2025, 3, 1, 5, 30, tzinfo=UTC)
NAMES = {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}


def order(n: int, **changes) -> dict:
    base = {"key": f"legacy:{n}", "number": f"L{n}", "currency": "MMK", "total": 7000, "placed_at": WHEN,
            "payment_id": f"pay-{n}", "payment_method": "cash", "table_code": "4", "note": f"Legacy order {n}",
            "lines": [{"product_id": "legacy-1", "variant": None, "product_names": NAMES, "unit_price": 2500,
                       "quantity": 2, "flags": []},
                      {"product_id": "legacy-2", "variant": "v7", "product_names": {"en": "Tea", "my": "Tea"},
                       "variant_names": {"en": "Large"}, "unit_price": 1500, "quantity": 1,
                       "flags": ["price:current_price"], "snapshot": {"legacy": {"line_id": 9}}}],
            "refunds": []}
    base.update(changes)
    return base


def test_imported_orders_read_as_sold_through_the_terminal_api(tenant, manager_api):
    refund = {"key": "legacy:r1", "amount": 3000, "created_at": WHEN + timedelta(days=1), "reason": "cold",
              "payment_refund_id": "rf-1"}
    result = pos_core.import_orders(tenant_id=tenant.id, orders=[
        order(1), order(2, total=6500, refunds=[refund]), order(3, status="cancelled")], source="test")
    assert result.created == ("legacy:1", "legacy:2", "legacy:3")
    assert result.ids["legacy:2"] == pos_core.imported_order_id(tenant_id=tenant.id, key="legacy:2")
    body = manager_api.get(f"/api/v1/orders/{result.ids['legacy:2']}").json()
    assert (body["number"], body["status"], body["table_id"]) == ("L2", "partially_refunded", None)
    assert body["totals"]["grand_total"]["amount"] == 6500 and body["totals"]["subtotal"]["amount"] == 6500
    assert body["totals"]["refunded"]["amount"] == 3000 and body["payment"]["id"] == "pay-2"
    items = body["items"]
    assert [(i["product_id"], i["variant"], i["quantity"], i["unit_price"]["amount"], i["flags"]) for i in items] == [
        ("legacy-1", None, 2, 2500, []), ("legacy-2", "v7", 1, 1500, ["price:current_price"])]
    assert items[0]["product_names"] == NAMES
    assert manager_api.get(f"/api/v1/orders/{result.ids['legacy:3']}").json()["status"] == "cancelled"
    report = manager_api.get("/api/v1/reports/sales?from=2025-03-01&to=2025-03-02&group_by=day").json()
    # the legacy totals (7000 with lines of 6500) are what was sold; cancelled orders are not sales
    assert report["totals"]["gross"] == 7000 + 6500 and report["totals"]["refunds"] == 3000
    with all_tenants():
        assert not OrderSaga.objects.using("pos_core").exists()
    assert [e.payload["orders"] for e in OutboxEvent.objects.using("pos_core")] == [3]
    assert not OutboxEvent.objects.using("pos_core").filter(name="pos_core.order_placed").exists()
    days = pos_core.imported_orders_by_day(tenant_id=tenant.id, key_prefix="legacy:", tz="Asia/Yangon")
    assert [(d.day, d.orders, d.items, d.total, d.refunds, d.refunded) for d in days] == [
        ("2025-03-01", 3, 6, 20_500, 0, 0), ("2025-03-02", 0, 0, 0, 1, 3000)]


def test_a_repeated_batch_adds_nothing(tenant):
    pos_core.import_orders(tenant_id=tenant.id, orders=[order(1), order(2)], source="test")
    again = pos_core.import_orders(tenant_id=tenant.id, orders=[order(1), order(2), order(3)], source="test")
    assert again.existing == ("legacy:1", "legacy:2") and again.created == ("legacy:3",)
    with all_tenants():
        assert Order.objects.using("pos_core").count() == 3


@pytest.mark.parametrize("change, field", [
    ({"currency": "USD"}, "orders[1].currency"),
    ({"total": -1}, "orders[1].total"),
    ({"placed_at": datetime(2025, 3, 1)}, "orders[1].placed_at"),
    ({"status": "open"}, "orders[1].status"),
    ({"lines": [{"product_id": "x", "product_names": NAMES, "unit_price": 100, "quantity": -2}]},
     "orders[1].lines[0].quantity"),
    ({"lines": [{"product_id": "x", "product_names": NAMES, "unit_price": 1.5, "quantity": 1}]},
     "orders[1].lines[0].unit_price"),
    ({"refunds": [{"key": "r", "amount": 9_999_999, "created_at": WHEN}]}, "orders[1].refunds"),
    ({"key": "legacy:0"}, "orders[1].key"),
])
def test_a_bad_entry_rejects_the_batch_and_writes_nothing(tenant, change, field):
    with pytest.raises(pos_core.InvalidImport) as caught:
        pos_core.import_orders(tenant_id=tenant.id, orders=[order(0), order(1, **change)], source="test")
    assert field in {e["field"] for e in caught.value.extra["errors"]}
    with all_tenants():
        assert not Order.objects.using("pos_core").exists()
