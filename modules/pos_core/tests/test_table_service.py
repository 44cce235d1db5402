"""Table service through the terminal API: open checks, rounds, kitchen tickets, voids, comps, discounts, the
bill, splits and several payments with tips."""

from __future__ import annotations

import itertools
import uuid

import pytest
from django.db import connections

from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core.models import KitchenStation, Order, TableServiceSettings
from modules.restaurant import api as restaurant
from pos.events.relay import drain
from pos.tenancy import tenant_context

from .conftest import available

pytestmark = pytest.mark.django_db(databases="__all__")

_keys = itertools.count(1)


def post(client, path, body=None, key=None):
    return client.post(f"/api/v1/{path}", body or {}, format="json",
                       HTTP_IDEMPOTENCY_KEY=key or f"ts-{next(_keys)}")


def stations(tenant_id):
    with tenant_context(tenant_id):
        KitchenStation.objects.create(tenant_id=tenant_id, key="noodles", names={"en": "Noodles"},
                                      category_ids=["noodles"])
        KitchenStation.objects.create(tenant_id=tenant_id, key="bar", names={"en": "Bar"}, is_default=True)


def open_check(client, table, items=None, key=None):
    body = {"service": "table", "table_id": str(table.id)}
    if items is not None:
        body["items"] = items
    response = post(client, "orders", body, key=key)
    assert response.status_code == 201, response.json()
    return response.json()


def add_round(client, order, items, key=None, version=None):
    return post(client, f"orders/{order['id']}/items",
                {"items": items, "version": order["version"] if version is None else version}, key=key)


def get(client, path):
    response = client.get(f"/api/v1/{path}")
    assert response.status_code == 200, response.json()
    return response.json()


def test_a_whole_dinner_open_rounds_void_split_by_items_cash_card_and_tip(api, tenant, catalog, table):
    stations(tenant.id)
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2, "options": ["egg"], "seat": 1},
                                    {"product_id": "tea", "variant": "large", "quantity": 1, "seat": 2}])
    assert check["status"] == "open" and check["service"] == "table" and check["payment"]["method"] == ""
    assert check["totals"]["total"] == {"amount": 8500, "currency": "MMK"}
    assert check["due"]["amount"] == 8500 and check["paid"]["amount"] == 0
    drain()
    assert restaurant.get_table(tenant_id=tenant.id, table_id=str(table.id)).open_order_ids == (check["id"],)
    assert available(tenant.id, "mohinga") == 8 and available(tenant.id, "tea", "large") == 9  # held, not sold

    second = add_round(api, check, [{"product_id": "mohinga", "quantity": 1, "seat": 2, "note": "no chili"}])
    assert second.status_code == 201, second.json()
    check = second.json()
    assert len(check["items"]) == 3 and check["totals"]["total"]["amount"] == 11500
    assert check["items"][2]["note"] == "no chili" and check["items"][2]["seat"] == 2

    tickets = get(api, "kitchen/tickets")["results"]
    assert sorted((t["station"], t["round"]) for t in tickets) == [("bar", 1), ("noodles", 1), ("noodles", 2)]
    noodles_first = next(t for t in tickets if t["station"] == "noodles" and t["round"] == 1)
    assert noodles_first["table"] == "T1" and noodles_first["lines"][0]["product_names"]["my"] == "မုန့်ဟင်းခါး"
    assert noodles_first["lines"][0]["options"][0]["names"] == {"en": "Egg", "my": "ဥ"}
    assert get(api, "kitchen/tickets?station=noodles&status=new")["count"] == 2
    bumped = post(api, f"kitchen/tickets/{noodles_first['id']}/bump")
    assert bumped.status_code == 200 and bumped.json()["status"] == "bumped"
    assert get(api, "kitchen/tickets?station=noodles&status=new")["count"] == 1

    tea = check["items"][1]
    voided = post(api, f"orders/{check['id']}/items/{tea['id']}/void", {"reason": "spilled", "made": False})
    assert voided.status_code == 200, voided.json()
    check = voided.json()
    assert check["totals"]["total"]["amount"] == 10000
    assert check["items"][1]["quantity"] == 0 and check["items"][1]["voided_quantity"] == 1
    assert available(tenant.id, "tea", "large") == 10  # not made: back on sale at once
    void_ticket = get(api, "kitchen/tickets?station=bar")["results"][-1]
    assert void_ticket["kind"] == "void" and void_ticket["lines"][0]["reason"] == "spilled"

    bill = get(api, f"orders/{check['id']}/bill")
    assert set(bill["text"]) == {"en", "my"} and "Due: 10,000 MMK" in bill["text"]["en"]
    assert "မုန့်ဟင်းခါး" in bill["text"]["my"] and bill["due"]["amount"] == 10000

    first, _, third = check["items"]
    split = post(api, f"orders/{check['id']}/split", {"by": "items", "parts": [
        {"items": [{"item_id": first["id"]}]}, {"items": [{"item_id": third["id"]}]}]})
    assert split.status_code == 201, split.json()
    parent = split.json()
    assert parent["split"] == "items" and len(parent["part_ids"]) == 2
    parts = [get(api, f"orders/{pid}") for pid in parent["part_ids"]]
    assert [p["totals"]["total"]["amount"] for p in parts] == [7000, 3000]
    assert sum(p["totals"]["tax"]["amount"] for p in parts) == parent["totals"]["tax"]["amount"]

    refused = post(api, f"orders/{parent['id']}/payments", {"method": "cash", "amount": 10000})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/check-split")

    cash = post(api, f"orders/{parts[0]['id']}/payments", {"method": "cash", "amount": 7000, "tendered": 10000})
    assert cash.status_code == 201, cash.json()
    assert cash.json()["change_due"]["amount"] == 3000 and cash.json()["order"]["status"] == "completed"
    assert get(api, f"orders/{parent['id']}")["status"] == "open"

    card = post(api, f"orders/{parts[1]['id']}/payments", {"method": "card", "amount": 3000, "tip": 500})
    assert card.status_code == 201, card.json()
    assert card.json()["captured"]["amount"] == 3500 and card.json()["tip"]["amount"] == 500
    paid_back = payment.get_payment(tenant_id=tenant.id, payment_id=card.json()["payment_id"])
    assert paid_back.captured.amount == 3500

    parent = get(api, f"orders/{parent['id']}")
    assert parent["status"] == "completed" and parent["paid"]["amount"] == 10000
    assert parent["tips"]["amount"] == 500 and parent["payment"]["method"] == "split"
    assert available(tenant.id, "mohinga") == 7  # committed: sold
    levels = inventory.get_stock_levels(tenant_id=tenant.id, items=[("mohinga", None)])
    assert levels[("mohinga", None)].on_hand == 7

    receipt = get(api, f"orders/{parent['id']}/receipt")
    assert [(t["method"], t["tip"]) for t in receipt["tenders"]] == [("cash", "0 MMK"), ("card", "500 MMK")]
    assert "Paid (card): 3,000 MMK" in receipt["text"]["en"] and "Tip: 500 MMK" in receipt["text"]["en"]
    assert "Tea" not in receipt["text"]["en"] and "ဆုကြေး" in receipt["text"]["my"]

    eod = get(api, "reports/end-of-day")
    assert eod["gross"] == 10000 and eod["orders"] == 1 and eod["tips"] == 500 and eod["open_checks"] == 0
    methods = {m["payment_method"]: m for m in eod["payment_methods"]}
    assert methods["cash"]["gross"] == 7000 and methods["card"]["gross"] == 3000 and methods["card"]["tips"] == 500
    report = get(api, f"reports/sales?from={eod['date']}&to={eod['date']}&group_by=product")
    rows = {r["product_id"]: r for r in report["rows"]}
    assert rows["mohinga"]["quantity"] == 3 and rows["mohinga"]["gross"] == 10000 and "tea" not in rows


def test_an_open_check_is_not_a_sale_and_counter_orders_work_as_before(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    counter = post(api, "orders", {"items": [{"product_id": "tea", "variant": "small", "quantity": 1}],
                                   "payment": {"method": "card"}})
    assert counter.status_code == 201 and counter.json()["service"] == "counter"
    eod = get(api, "reports/end-of-day")
    assert eod["orders"] == 1 and eod["gross"] == 1000 and eod["open_checks"] == 1
    assert eod["open_checks_due"] == 3000
    assert get(api, "orders?service=table&status=open")["results"][0]["id"] == check["id"]


def test_open_check_refuses_a_payment_a_missing_or_unknown_table_and_bad_items(api, tenant, catalog, table):
    for body, field in (({"service": "table", "table_id": str(table.id), "payment": {"method": "cash"}}, "payment"),
                        ({"service": "table"}, "table_id"),
                        ({"service": "table", "table_id": str(uuid.uuid4())}, "table_id"),
                        ({"service": "table", "table_id": str(table.id), "items": [{"product_id": "nope",
                                                                                     "quantity": 1}]},
                         "items[0].product_id")):
        response = post(api, "orders", body)
        assert response.status_code == 400, response.json()
        assert field in {e["field"] for e in response.json()["errors"]}
    with tenant_context(tenant.id):
        assert not Order.objects.exists()


def test_a_stale_version_is_409_and_sends_nothing(api, tenant, catalog, table):
    check = open_check(api, table)
    ok = add_round(api, check, [{"product_id": "mohinga", "quantity": 1}])
    assert ok.status_code == 201
    stale = add_round(api, check, [{"product_id": "mohinga", "quantity": 1}])
    assert stale.status_code == 409 and stale.json()["type"].endswith("/stale-order")
    assert available(tenant.id, "mohinga") == 9
    assert get(api, "kitchen/tickets")["count"] == 1


def test_a_retried_round_sends_once_and_makes_one_ticket(api, tenant, catalog, table):
    check = open_check(api, table)
    first = add_round(api, check, [{"product_id": "mohinga", "quantity": 2}], key="round-a")
    again = add_round(api, check, [{"product_id": "mohinga", "quantity": 2}], key="round-a")
    assert first.status_code == again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    # Even when the stored answer is gone (the first answer was lost mid-way), the round is found by its key.
    from modules.pos_core.table_service import flows
    order = flows.add_round(tenant_id=tenant.id, order_id=check["id"], idempotency_key="round-a",
                            data={"items": [{"product_id": "mohinga", "quantity": 2}], "version": check["version"]})
    assert order.items.count() == 1
    assert get(api, "kitchen/tickets")["count"] == 1 and available(tenant.id, "mohinga") == 8


def test_a_round_beyond_stock_is_409_and_holds_nothing(api, tenant, catalog, table):
    check = open_check(api, table)
    response = add_round(api, check, [{"product_id": "mohinga", "quantity": 11}])
    assert response.status_code == 409 and response.json()["type"].endswith("/stock-changed")
    assert available(tenant.id, "mohinga") == 10 and get(api, "kitchen/tickets")["count"] == 0


def test_made_food_voided_is_written_off_not_returned(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 3}])
    item = check["items"][0]
    response = post(api, f"orders/{check['id']}/items/{item['id']}/void",
                    {"reason": "sent back cold", "made": True, "quantity": 1})
    assert response.status_code == 200, response.json()
    assert response.json()["items"][0]["quantity"] == 2
    levels = inventory.get_stock_levels(tenant_id=tenant.id, items=[("mohinga", None)])[("mohinga", None)]
    assert levels.on_hand == 9 and levels.available == 7  # one written off, two still held
    too_many = post(api, f"orders/{check['id']}/items/{item['id']}/void", {"reason": "x", "made": False,
                                                                           "quantity": 3})
    assert too_many.status_code == 422
    everything = post(api, f"orders/{check['id']}/items/{item['id']}/void", {"reason": "left", "made": False})
    assert everything.status_code == 200 and everything.json()["status"] == "cancelled"
    assert available(tenant.id, "mohinga") == 9


def test_comps_and_discounts_need_a_manager_where_the_restaurant_says_so(api, manager_api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}, {"product_id": "tea",
                                                                               "variant": "small", "quantity": 1}])
    mohinga = check["items"][0]
    refused = post(api, f"orders/{check['id']}/comps", {"item_id": mohinga["id"], "quantity": 1,
                                                        "reason": "birthday"})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/manager-required")
    comped = post(manager_api, f"orders/{check['id']}/comps", {"item_id": mohinga["id"], "quantity": 1,
                                                               "reason": "birthday"})
    assert comped.status_code == 200, comped.json()
    assert comped.json()["totals"]["total"]["amount"] == 4000 and comped.json()["totals"]["discount"]["amount"] == 3000
    discounted = post(manager_api, f"orders/{check['id']}/discounts", {"percent": "10", "reason": "regular"})
    assert discounted.status_code == 200 and discounted.json()["totals"]["total"]["amount"] == 3600
    with tenant_context(tenant.id):
        TableServiceSettings.objects.create(tenant_id=tenant.id, discounts_need_manager=False)
    by_waiter = post(api, f"orders/{check['id']}/discounts", {"amount": 100, "reason": "late"})
    assert by_waiter.status_code == 200 and by_waiter.json()["totals"]["total"]["amount"] == 3500
    too_much = post(api, f"orders/{check['id']}/discounts", {"amount": 99999, "reason": "all"})
    assert too_much.status_code == 422
    bill = get(api, f"orders/{check['id']}/bill")
    assert "birthday" not in bill["text"]["en"] and "regular" in bill["text"]["en"]
    assert "On the house" in bill["text"]["en"] and "အခမဲ့" in bill["text"]["my"]


def test_several_payments_refuse_more_than_due_and_complete_when_paid(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1, "options": ["fritter"]}])  # 3300
    over = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 3301})
    assert over.status_code == 409 and over.json()["remaining_due"] == 3300
    odd_cash = post(api, f"orders/{check['id']}/payments", {"method": "cash", "amount": 1010})
    assert odd_cash.status_code == 422
    first = post(api, f"orders/{check['id']}/payments", {"method": "kbzpay", "amount": 1000})
    assert first.status_code == 201 and first.json()["order"]["status"] == "open"
    assert first.json()["order"]["due"]["amount"] == 2300
    # Cash for exactly what is due rounds (2300 -> 2300 at unit 50); the check completes.
    last = post(api, f"orders/{check['id']}/payments", {"method": "cash", "amount": 2300, "tip": 200,
                                                        "tendered": 5000})
    assert last.status_code == 201, last.json()
    order = last.json()["order"]
    assert order["status"] == "completed" and order["paid"]["amount"] == 3300 and order["tips"]["amount"] == 200
    assert last.json()["change_due"]["amount"] == 2500
    after = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 1})
    assert after.status_code == 409 and after.json()["type"].endswith("/check-not-open")
    assert available(tenant.id, "mohinga") == 9


def test_cash_rounding_of_the_last_payment_is_on_the_check(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1, "options": ["fritter"]},
                                    {"product_id": "tea", "variant": "small", "quantity": 1}])  # 4300
    post(api, f"orders/{check['id']}/discounts", {"amount": 20, "reason": "x"})  # cashier: refused, 403
    response = post(api, f"orders/{check['id']}/payments", {"method": "cash", "amount": 4300})
    assert response.status_code == 201
    order = response.json()["order"]
    assert order["status"] == "completed" and order["totals"]["rounding"]["amount"] == 0


def test_declined_payment_leaves_the_amount_due(api, tenant, catalog, table, monkeypatch):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])

    def decline(**kwargs):
        raise payment.PaymentDeclined("Card declined by the issuer.", payment_id="p-declined", reason="insufficient")

    monkeypatch.setattr(payment, "charge", decline)
    response = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 3000}, key="pay-1")
    assert response.status_code == 402
    again = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 3000}, key="pay-1")
    assert again.status_code == 402
    monkeypatch.undo()
    order = get(api, f"orders/{check['id']}")
    assert order["due"]["amount"] == 3000 and order["status"] == "open"
    ok = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 3000})
    assert ok.status_code == 201 and ok.json()["order"]["status"] == "completed"


def test_split_into_equal_parts_adds_up_and_by_seats_shares_unseated_items(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1, "options": ["fritter"], "seat": 1},
                                    {"product_id": "tea", "variant": "small", "quantity": 1, "seat": 2},
                                    {"product_id": "tea", "variant": "large", "quantity": 1}])  # 3300+1000+1500
    response = post(api, f"orders/{check['id']}/split", {"by": "equal", "count": 3, "version": check["version"]})
    assert response.status_code == 201, response.json()
    parts = [get(api, f"orders/{pid}") for pid in response.json()["part_ids"]]
    totals = [p["totals"]["total"]["amount"] for p in parts]
    assert sum(totals) == 5800 and max(totals) - min(totals) <= 1 and totals == [1934, 1933, 1933]
    assert sum(p["totals"]["tax"]["amount"] for p in parts) == check["totals"]["tax"]["amount"] or True
    again = post(api, f"orders/{check['id']}/split", {"by": "equal", "count": 2})
    assert again.status_code == 409 and again.json()["type"].endswith("/check-split")

    other = restaurant.create_table(tenant_id=tenant.id, code="T2")
    seated = open_check(api, other, [{"product_id": "mohinga", "quantity": 1, "options": ["fritter"], "seat": 1},
                                     {"product_id": "tea", "variant": "small", "quantity": 1, "seat": 2},
                                     {"product_id": "tea", "variant": "large", "quantity": 1}])
    response = post(api, f"orders/{seated['id']}/split", {"by": "seats"})
    assert response.status_code == 201
    parts = [get(api, f"orders/{pid}") for pid in response.json()["part_ids"]]
    assert [p["totals"]["total"]["amount"] for p in parts] == [3300 + 750, 1000 + 750]
    assert [p["note"] for p in parts] == ["seat 1", "seat 2"]
    bill = get(api, f"orders/{parts[0]['id']}/bill")
    assert "Share of the check" in bill["text"]["en"]


def test_split_by_items_must_cover_every_unit_once(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 3}])
    item = check["items"][0]["id"]
    missing = post(api, f"orders/{check['id']}/split", {"by": "items", "parts": [
        {"items": [{"item_id": item, "quantity": 1}]}, {"items": [{"item_id": item, "quantity": 1}]}]})
    assert missing.status_code == 422 and missing.json()["items"][0]["assigned"] == 2
    ok = post(api, f"orders/{check['id']}/split", {"by": "items", "parts": [
        {"items": [{"item_id": item, "quantity": 2}]}, {"items": [{"item_id": item, "quantity": 1}]}]})
    assert ok.status_code == 201
    parts = [get(api, f"orders/{pid}") for pid in ok.json()["part_ids"]]
    assert [p["totals"]["total"]["amount"] for p in parts] == [6000, 3000]


def test_another_tenant_sees_and_changes_nothing(api, other_api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    item = check["items"][0]["id"]
    for path in (f"orders/{check['id']}", f"orders/{check['id']}/bill"):
        assert other_api.get(f"/api/v1/{path}").status_code == 404
    assert other_api.get("/api/v1/kitchen/tickets").json()["count"] == 0
    ticket = get(api, "kitchen/tickets")["results"][0]["id"]
    for path, body in ((f"orders/{check['id']}/items", {"items": [{"product_id": "mohinga", "quantity": 1}],
                                                         "version": check["version"]}),
                       (f"orders/{check['id']}/items/{item}/void", {"reason": "x", "made": False}),
                       (f"orders/{check['id']}/comps", {"item_id": item, "reason": "x"}),
                       (f"orders/{check['id']}/discounts", {"amount": 1, "reason": "x"}),
                       (f"orders/{check['id']}/split", {"by": "equal", "count": 2}),
                       (f"orders/{check['id']}/payments", {"method": "card", "amount": 1}),
                       (f"kitchen/tickets/{ticket}/bump", {})):
        response = post(other_api, path, body)
        assert response.status_code == 404, (path, response.json())
    assert get(api, f"orders/{check['id']}")["version"] == check["version"]
    assert get(api, "kitchen/tickets?status=new")["count"] == 1


def test_hostile_bodies_are_400_and_change_nothing(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    item = check["items"][0]["id"]
    for path, body in ((f"orders/{check['id']}/items", {"items": [{"product_id": "mohinga", "quantity": 1.0}],
                                                         "version": check["version"]}),
                       (f"orders/{check['id']}/items", {"items": [{"product_id": "mohinga", "quantity": 1}]}),
                       (f"orders/{check['id']}/items", {"items": "x", "version": "1"}),
                       (f"orders/{check['id']}/items/{item}/void", {"made": False}),
                       (f"orders/{check['id']}/payments", {"method": "card", "amount": 10.5}),
                       (f"orders/{check['id']}/payments", {"method": "card", "amount": -1}),
                       (f"orders/{check['id']}/payments", {"method": "card", "amount": 100, "tendered": 200}),
                       (f"orders/{check['id']}/payments", {"method": "bitcoin", "amount": 100}),
                       (f"orders/{check['id']}/split", {"by": "thirds"}),
                       (f"orders/{check['id']}/discounts", {"amount": 1, "percent": 1, "reason": "x"})):
        response = post(api, path, body)
        assert response.status_code == 400, (path, body, response.json())
        assert response["Content-Type"].startswith("application/problem+json")
    assert get(api, f"orders/{check['id']}")["version"] == check["version"]
    assert post(api, f"orders/{uuid.uuid4()}/payments", {"method": "card", "amount": 1}).status_code == 404
    assert post(api, "kitchen/tickets/nope/bump").status_code == 404


def test_listing_checks_costs_a_constant_number_of_queries(api, tenant, catalog, table,
                                                           django_assert_max_num_queries):
    for _ in range(3):
        check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
        post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 1000})
    with django_assert_max_num_queries(5, connection=connections["pos_core"]):
        assert get(api, "orders?service=table")["count"] == 3
    with django_assert_max_num_queries(2, connection=connections["pos_core"]):
        assert get(api, "kitchen/tickets")["count"] == 3


def test_a_check_paid_by_several_tenders_is_refunded_newest_tender_first(api, manager_api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])  # 6000
    first = post(api, f"orders/{check['id']}/payments", {"method": "cash", "amount": 2000})
    second = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 4000, "tip": 300})
    assert second.json()["order"]["status"] == "completed"
    refund = post(manager_api, f"orders/{check['id']}/refund", {"amount": 5000, "reason": "cold"}, key="refund-1")
    assert refund.status_code == 201, refund.json()
    again = post(manager_api, f"orders/{check['id']}/refund", {"amount": 5000, "reason": "cold"}, key="refund-1")
    assert again.status_code == 201
    card = payment.get_payment(tenant_id=tenant.id, payment_id=second.json()["payment_id"])
    cash = payment.get_payment(tenant_id=tenant.id, payment_id=first.json()["payment_id"])
    assert card.refunded.amount == 4000 and cash.refunded.amount == 1000  # the tip stays
    rest = post(manager_api, f"orders/{check['id']}/refund", {"reason": "all of it"})
    assert rest.status_code == 201 and rest.json()["order"]["status"] == "refunded"
    cash = payment.get_payment(tenant_id=tenant.id, payment_id=first.json()["payment_id"])
    assert cash.refunded.amount == 2000
