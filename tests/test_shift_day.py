"""A restaurant's day on two cash drawers, as terminals and a manager live it: shifts opened with floats, cash,
card and wallet orders through the order saga, refunds through the order and the payment endpoints, pay-outs and a
float top-up, a late refund in the next shift, then Z reports that match the payment module's own records to the
kyat."""

from __future__ import annotations

import itertools
from collections import defaultdict

import pytest

from conftest import make_tenant, make_terminal_client
from modules.pos_core.tests.conftest import make_catalog, order_body

pytestmark = pytest.mark.django_db(databases="__all__")
_keys = itertools.count(1)


def post(client, path, body):
    response = client.post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=f"day-{next(_keys)}")
    assert response.status_code in (200, 201), (path, response.json())
    return response.json()


def post_raw(client, path, body, key):
    return client.post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def order(client, method, tendered=None, tea=1):
    pay = {"method": method, **({"tendered": tendered} if tendered else {})}
    return post(client, "orders", {"items": [{"product_id": "mohinga", "quantity": 1, "options": ["egg"]},
                                             {"product_id": "tea", "variant": "large", "quantity": tea}],
                                   "payment": pay})


def all_payments(client) -> list[dict]:
    rows, url = [], "/api/v1/payments?limit=200"
    while url:
        page = client.get(url).json()
        rows += page["results"]
        url = page["next"]
    return rows


def test_two_drawers_a_day_of_orders_refunds_and_pay_outs_reconcile_to_the_kyat(tenant):
    make_catalog(tenant.id, stock=100)
    counter = make_terminal_client(tenant, "cashier", name="Counter")
    bar = make_terminal_client(tenant, "cashier", name="Bar")
    boss = make_terminal_client(tenant, "manager", name="Office")

    morning = post(counter, "shifts", {"opening_float": 50_000})
    bar_shift = post(bar, "shifts", {"opening_float": 30_000})
    assert morning["drawer_id"] != bar_shift["drawer_id"]

    c1 = order(counter, "cash", tendered=10_000)
    c2 = order(counter, "cash", tendered=20_000, tea=2)
    c3 = order(counter, "card")
    c4 = order(counter, "cash")  # exact cash, no tender given
    b1 = order(bar, "cash", tendered=50_000, tea=3)
    b2 = order(bar, "kbzpay")
    b3 = order(bar, "cash", tendered=5_000)

    post(counter, f"orders/{c2['id']}/refund", {"amount": 1_500, "reason": "cold tea"})  # order door
    post(bar, f"payments/{b1['payment']['id']}/refunds", {"amount": 2_000, "reason": "wrong order"})  # payment door
    post(counter, f"orders/{c3['id']}/refund", {"amount": 3_000, "reason": "missing egg"})  # card refund
    post(counter, f"shifts/{morning['id']}/cash-movements", {"kind": "out", "amount": 4_500, "reason": "ice"})
    post(bar, f"shifts/{bar_shift['id']}/cash-movements", {"kind": "in", "amount": 10_000, "reason": "float top-up"})
    post(bar, f"shifts/{bar_shift['id']}/cash-movements", {"kind": "out", "amount": 1_000, "reason": "porter"})

    x = boss.get(f"/api/v1/shifts/{morning['id']}/report").json()
    morning_cash = x["cash"]["expected"]["amount"]
    z_morning = post(counter, f"shifts/{morning['id']}/close",
                     {"counted": {"cash": morning_cash - 200, "card": 7_000}})
    evening = post(counter, "shifts", {"opening_float": 40_000})
    late = post(counter, f"orders/{c1['id']}/refund", {"amount": 1_000, "reason": "late complaint"})
    c5 = order(counter, "cash", tendered=10_000)
    z_evening = post(boss, f"shifts/{evening['id']}/close", {"counted": {"cash": 40_000}})
    z_bar = post(bar, f"shifts/{bar_shift['id']}/close", {"counted": {"cash": 0, "kbzpay": 0}})
    zs = [z_morning, z_evening, z_bar]

    payments = {p["id"]: p for p in all_payments(boss)}
    assert len(payments) == 8
    refund_rows = [r for p in payments.values() for r in boss.get(f"/api/v1/payments/{p['id']}/refunds").json()]
    assert len(refund_rows) == 4
    late_refund = next(r for r in refund_rows if r["reason"] == "late complaint")
    assert late_refund["shift_id"] == evening["id"] and late_refund["late_for_shift_id"] == morning["id"]
    assert late["amount"]["amount"] == 1_000

    # every payment and refund counts in exactly one shift, and each Z report is what those rows say
    shift_ids = {z["shift"]["id"] for z in zs}
    assert all(p["shift_id"] in shift_ids for p in payments.values())
    assert all(r["shift_id"] in shift_ids for r in refund_rows)
    method_of = {pid: p["method"] for pid, p in payments.items()}
    for z in zs:
        sid = z["shift"]["id"]
        sales, refunds = defaultdict(int), defaultdict(int)
        for p in payments.values():
            if p["shift_id"] == sid:
                sales[p["method"]] += p["captured"]["amount"]
        for r in refund_rows:
            if r["shift_id"] == sid:
                refunds[method_of[r["payment_id"]]] += r["amount"]["amount"]
        lines = {line["method"]: line for line in z["methods"]}
        for method in ("cash", "card", "kbzpay", "wavepay"):
            assert lines[method]["sales"]["amount"] == sales[method], (sid, method)
            assert lines[method]["refunds"]["amount"] == refunds[method], (sid, method)
        tendered = sum((p["tendered"] or p["captured"])["amount"] for p in payments.values()
                       if p["shift_id"] == sid and p["method"] == "cash")
        change = sum((p["change_due"] or {"amount": 0})["amount"] for p in payments.values()
                     if p["shift_id"] == sid and p["method"] == "cash")
        moves = boss.get(f"/api/v1/shifts/{sid}/cash-movements").json()
        net_moves = sum(m["amount"]["amount"] * (1 if m["kind"] == "in" else -1) for m in moves)
        expected = z["shift"]["opening_float"]["amount"] + tendered - change - refunds["cash"] + net_moves
        assert lines["cash"]["expected"]["amount"] == expected == z["cash"]["expected"]["amount"]
        assert lines["cash"]["difference"]["amount"] == lines["cash"]["counted"]["amount"] - expected

    # across the day, the Z reports add up to the payment module's own totals per method
    for method in ("cash", "card", "kbzpay", "wavepay"):
        net_in_payments = sum(p["captured"]["amount"] - p["refunded"]["amount"]
                              for p in payments.values() if p["method"] == method)
        net_in_zs = sum(line["sales"]["amount"] - line["refunds"]["amount"]
                        for z in zs for line in z["methods"] if line["method"] == method)
        assert net_in_zs == net_in_payments, method

    morning_lines = {line["method"]: line for line in z_morning["methods"]}
    assert morning_lines["cash"]["difference"]["amount"] == -200
    card_expected = c3["payment"]["captured"]["amount"] - 3_000
    assert morning_lines["card"]["expected"]["amount"] == card_expected
    assert morning_lines["card"]["difference"]["amount"] == 7_000 - card_expected
    evening_lines = {line["method"]: line for line in z_evening["methods"]}
    assert z_evening["late_refunds"] == 1 and evening_lines["cash"]["refunds"]["amount"] == 1_000
    assert evening_lines["cash"]["sales"]["amount"] == c5["payment"]["captured"]["amount"]
    assert z_evening["shift"]["closed_by"] == "terminal:Office"
    assert {payments[o["payment"]["id"]]["shift_id"] for o in (b1, b2, b3)} == {bar_shift["id"]}
    assert {payments[o["payment"]["id"]]["shift_id"] for o in (c1, c2, c3, c4)} == {morning["id"]}

    history = boss.get("/api/v1/shifts?status=closed").json()
    assert history["count"] == 3
    short = boss.get("/api/v1/shifts?result=short").json()["results"]
    assert morning["id"] in [s["id"] for s in short]


def test_strict_restaurant_refuses_a_cash_order_without_a_shift_with_a_409(db):
    strict = make_tenant("Strict Noodles", require_open_shift_for_cash=True)
    make_catalog(strict.id)
    till = make_terminal_client(strict, "cashier")
    refused = post_raw(till, "orders", order_body(), key="o1")
    assert refused.status_code == 409 and refused["Content-Type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/open-shift-required")
    assert till.get("/api/v1/orders").json()["count"] == 0 and till.get("/api/v1/payments").json()["count"] == 0
    post(till, "orders", order_body(payment={"method": "card"}))
    shift = post(till, "shifts", {"opening_float": 20_000})
    placed = post(till, "orders", order_body())
    paid = till.get(f"/api/v1/payments/{placed['payment']['id']}").json()
    assert paid["shift_id"] == shift["id"] and paid["terminal_id"] == str(till.terminal.id)
