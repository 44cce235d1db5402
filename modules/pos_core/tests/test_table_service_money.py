"""Table checks in the money views: cash at a table and the drawer shift, sales by payment method per tender
with tips apart, end of day, and cancelling an abandoned check (its stock released, never one with money)."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.utils import timezone

from conftest import make_tenant, make_terminal_client
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core.errors import CheckBusy, CheckHasPayments, CheckNotOpen
from modules.pos_core.models import Order, OrderRound
from modules.pos_core.table_service import flows, store
from modules.restaurant import api as restaurant
from ops.reconcile import reconcile
from pos.events.relay import drain
from pos.tenancy import tenant_context

from .conftest import available, make_catalog

pytestmark = pytest.mark.django_db(databases="__all__")

_keys = itertools.count(1)


def post(client, path, body=None, key=None):
    return client.post(f"/api/v1/{path}", body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or f"tm-{next(_keys)}")


def get(client, path):
    response = client.get(f"/api/v1/{path}")
    assert response.status_code == 200, response.json()
    return response.json()


def open_check(client, table, items):
    response = post(client, "orders", {"service": "table", "table_id": str(table.id), "items": items})
    assert response.status_code == 201, response.json()
    return response.json()


def pay(client, check, body, status=201):
    response = post(client, f"orders/{check['id']}/payments", body)
    assert response.status_code == status, response.json()
    return response.json()


# --- cash at a table and the drawer shift ---------------------------------------------------------------

def test_cash_at_a_table_needs_an_open_shift_where_the_restaurant_requires_it(db):
    strict = make_tenant("Strict Tea", require_open_shift_for_cash=True)
    make_catalog(strict.id)
    table = restaurant.create_table(tenant_id=strict.id, code="S1")
    waiter = make_terminal_client(strict, "cashier")
    check = open_check(waiter, table, [{"product_id": "mohinga", "quantity": 2}])  # 6000

    refused = pay(waiter, check, {"method": "cash", "amount": 2000, "tendered": 2000}, status=409)
    assert refused["type"].endswith("/open-shift-required")
    after = get(waiter, f"orders/{check['id']}")
    assert after["due"]["amount"] == 6000 and after["payments"] == []  # nothing held, nothing recorded
    assert payment.list_payments(tenant_id=strict.id) == []  # nothing charged

    card = pay(waiter, check, {"method": "card", "amount": 2000})  # cards need no shift
    assert card["status"] == "captured"

    shift = post(waiter, "shifts", {"opening_float": 5000})
    assert shift.status_code == 201, shift.json()
    cash = pay(waiter, check, {"method": "cash", "amount": 4000, "tendered": 5000})
    assert cash["status"] == "captured" and cash["order"]["status"] == "completed"
    taken = payment.get_payment(tenant_id=strict.id, payment_id=cash["payment_id"])
    assert taken.shift_id == shift.json()["id"]
    report = payment.get_shift_report(tenant_id=strict.id, shift_id=shift.json()["id"])
    assert {m.method: m.sales.amount for m in report.methods}["cash"] == 4000


def test_a_relaxed_restaurant_takes_cash_at_a_table_without_a_shift(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    assert pay(api, check, {"method": "cash", "amount": 3000})["order"]["status"] == "completed"


# --- reports: each tender under its own method, tips apart ----------------------------------------------

def test_sales_by_payment_method_count_each_tender_and_keep_tips_apart(api, manager_api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 3}])  # 9000
    pay(api, check, {"method": "cash", "amount": 6000})
    pay(api, check, {"method": "card", "amount": 3000, "tip": 700})
    counter = post(api, "orders", {"items": [{"product_id": "tea", "variant": "small", "quantity": 1}],
                                   "payment": {"method": "card"}})
    assert counter.status_code == 201
    day = get(api, "reports/end-of-day")["date"]

    report = get(api, f"reports/sales?from={day}&to={day}&group_by=payment_method")
    rows = {row["payment_method"]: row for row in report["rows"]}
    assert set(rows) == {"cash", "card"}  # never "split"
    assert rows["cash"]["gross"] == 6000 and rows["card"]["gross"] == 3000 + 1000  # tip not a sale
    assert rows["cash"]["orders"] == 1 and rows["card"]["orders"] == 2
    assert (rows["card"]["tips"], rows["cash"]["tips"]) == (700, 0) and report["totals"]["tips"] == 700
    assert rows["cash"]["quantity"] + rows["card"]["quantity"] == 4  # three mohinga split 2:1, one tea
    assert rows["cash"]["quantity"] == 2
    by_day = get(api, f"reports/sales?from={day}&to={day}&group_by=day")["rows"]
    assert sum(r["gross"] for r in rows.values()) == by_day[0]["gross"] == 10000

    eod = get(api, "reports/end-of-day")
    methods = {m["payment_method"]: m for m in eod["payment_methods"]}
    assert eod["gross"] == 10000 and eod["tips"] == 700
    assert (methods["cash"]["gross"], methods["cash"]["tips"]) == (6000, 0)
    assert (methods["card"]["gross"], methods["card"]["tips"], methods["card"]["orders"]) == (4000, 700, 2)

    # a refund of the check is counted under the tenders it was taken from (newest first: the card)
    refund = post(manager_api, f"orders/{check['id']}/refund", {"amount": 4000, "reason": "cold"})
    assert refund.status_code == 201, refund.json()
    rows = {row["payment_method"]: row for row in
            get(api, f"reports/sales?from={day}&to={day}&group_by=payment_method")["rows"]}
    assert (rows["card"]["refunds"], rows["cash"]["refunds"]) == (3000, 1000) and "split" not in rows
    methods = {m["payment_method"]: m for m in get(api, "reports/end-of-day")["payment_methods"]}
    assert (methods["card"]["refunds"], methods["cash"]["refunds"]) == (3000, 1000)
    assert methods["card"]["tips"] == 700  # the tip stays with the staff


def test_a_split_check_counts_once_per_method_however_many_parts_paid_with_it(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    parent = post(api, f"orders/{check['id']}/split", {"by": "equal", "count": 2}).json()
    for part_id in parent["part_ids"]:
        pay(api, {"id": part_id}, {"method": "cash", "amount": 3000})
    eod = get(api, "reports/end-of-day")
    [cash] = eod["payment_methods"]
    assert (cash["payment_method"], cash["orders"], cash["gross"]) == ("cash", 1, 6000)
    day = eod["date"]
    [row] = get(api, f"reports/sales?from={day}&to={day}&group_by=payment_method")["rows"]
    assert (row["payment_method"], row["orders"], row["quantity"], row["gross"]) == ("cash", 1, 2, 6000)


# --- cancelling an abandoned check ----------------------------------------------------------------------

def test_cancelling_an_abandoned_check_releases_its_stock_and_leaves_the_tab(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    post(api, f"orders/{check['id']}/items", {"items": [{"product_id": "tea", "variant": "large", "quantity": 1}],
                                              "version": check["version"]})
    drain()
    assert available(tenant.id, "mohinga") == 8 and available(tenant.id, "tea", "large") == 9

    order = flows.cancel_check(tenant_id=tenant.id, order_id=check["id"])

    assert order.status == "cancelled"
    assert available(tenant.id, "mohinga") == 10 and available(tenant.id, "tea", "large") == 10
    with tenant_context(tenant.id):
        assert set(OrderRound.objects.filter(order_id=check["id"]).values_list("status", flat=True)) == {"released"}
    drain()
    assert restaurant.get_table(tenant_id=tenant.id, table_id=str(table.id)).open_order_ids == ()
    with pytest.raises(CheckNotOpen):
        flows.cancel_check(tenant_id=tenant.id, order_id=check["id"])
    refused = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 1000})
    assert refused.status_code == 409 and refused.json()["type"].endswith("/check-not-open")
    drain()
    assert reconcile(tenant_id=tenant.id).clean


def test_a_check_with_money_taken_or_in_flight_is_never_cancelled(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    pay(api, check, {"method": "card", "amount": 1000})
    with pytest.raises(CheckHasPayments):
        flows.cancel_check(tenant_id=tenant.id, order_id=check["id"])
    split = open_check(api, restaurant.create_table(tenant_id=tenant.id, code="T2"),
                       [{"product_id": "mohinga", "quantity": 2}])
    parent = post(api, f"orders/{split['id']}/split", {"by": "equal", "count": 2}).json()
    pay(api, {"id": parent["part_ids"][0]}, {"method": "cash", "amount": 3000})
    with pytest.raises(CheckHasPayments):  # a part is paid: the whole check stays
        flows.cancel_check(tenant_id=tenant.id, order_id=split["id"])
    with pytest.raises(CheckNotOpen):  # a part is not cancelled on its own
        flows.cancel_check(tenant_id=tenant.id, order_id=parent["part_ids"][1])
    assert available(tenant.id, "mohinga") == 6  # everything still held
    with tenant_context(tenant.id):
        assert set(Order.objects.filter(parent__isnull=True).values_list("status", flat=True)) == {"open"}


def test_a_round_in_flight_keeps_the_check_from_being_cancelled(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    store.round_start(tenant_id=tenant.id, order_id=check["id"], idempotency_key="in-flight",
                      expected_version=None, lines=[], terminal_id="")
    with pytest.raises(CheckBusy):
        flows.cancel_check(tenant_id=tenant.id, order_id=check["id"])


def test_a_crash_after_cancelling_is_finished_by_recovery(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    store.check_cancel(tenant_id=tenant.id, order_id=check["id"])  # the release never happened
    assert available(tenant.id, "mohinga") == 8
    with tenant_context(tenant.id):
        OrderRound.objects.filter(order_id=check["id"]).update(updated_at=timezone.now() - timedelta(minutes=5))
    summary = flows.recover(older_than=timedelta(seconds=60))
    assert summary["released"] == 1 and summary["still_pending"] == 0
    assert available(tenant.id, "mohinga") == 10
    assert flows.recover(older_than=timedelta(seconds=0))["released"] == 0  # once
    [reservation] = inventory.list_reservations(tenant_id=tenant.id)
    assert reservation.status == "released"
    drain()
    assert reconcile(tenant_id=tenant.id).clean


def test_voiding_everything_cancels_the_check_and_frees_its_reservation(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 1}])
    voided = post(api, f"orders/{check['id']}/items/{check['items'][0]['id']}/void",
                  {"reason": "left", "made": False})
    assert voided.status_code == 200 and voided.json()["status"] == "cancelled"
    assert [r.status for r in inventory.list_reservations(tenant_id=tenant.id)] == ["released"]
    drain()
    assert reconcile(tenant_id=tenant.id).clean


def test_the_receipt_of_an_open_check_says_what_is_due_never_paid(api, tenant, catalog, table):
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    text = get(api, f"orders/{check['id']}/receipt")["text"]
    assert "Due: 6,000 MMK" in text["en"] and "Paid" not in text["en"] and "ပေးရန်ကျန်" in text["my"]
    pay(api, check, {"method": "card", "amount": 2000})
    text = get(api, f"orders/{check['id']}/receipt")["text"]["en"]
    assert "Paid (card): 2,000 MMK" in text and "Due: 4,000 MMK" in text
    pay(api, check, {"method": "cash", "amount": 4000})
    text = get(api, f"orders/{check['id']}/receipt")["text"]["en"]
    assert "Paid (cash): 4,000 MMK" in text and "Due" not in text and "Paid ()" not in text
