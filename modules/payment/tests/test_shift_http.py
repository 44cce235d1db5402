"""Terminal API for shifts: open, cash movements, X/Z reports, close; roles; problem responses; lists a terminal
developer needs; tenant isolation for every endpoint."""

from __future__ import annotations

import pytest

from conftest import make_terminal_client
from modules.payment import api as payment
from modules.payment.models import CashMovement, Shift
from modules.payment.tests.conftest import mmk
from pos.tenancy import all_tenants

pytestmark = pytest.mark.django_db(databases="__all__")


def post(client, path, body, key="k1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/{path}", body, format="json", **headers)


@pytest.fixture
def opened(api):
    response = post(api, "shifts", {"opening_float": 50_000, "note": "morning"}, key="open-1")
    assert response.status_code == 201, response.json()
    return response.json()


def shifts_written() -> int:
    with all_tenants():
        return Shift.objects.using("payment").count()


def test_open_answers_the_shift_and_replays_on_the_same_key(api, opened):
    assert opened["status"] == "open" and opened["opening_float"] == {"amount": 50_000, "currency": "MMK"}
    assert opened["drawer_name"] == api.terminal.name and opened["opened_by"] == f"terminal:{api.terminal.name}"
    replay = post(api, "shifts", {"opening_float": 50_000, "note": "morning"}, key="open-1")
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == opened["id"]
    again = post(api, "shifts", {"opening_float": 10_000}, key="open-2")
    assert again.status_code == 409 and again["Content-Type"] == "application/problem+json"
    assert again.json()["type"].endswith("/shift-already-open") and again.json()["shift_id"] == opened["id"]
    assert api.get("/api/v1/shifts/current").json()["id"] == opened["id"]
    drawers = api.get("/api/v1/drawers").json()
    assert [(d["name"], d["open_shift_id"]) for d in drawers] == [(api.terminal.name, opened["id"])]
    assert shifts_written() == 1


@pytest.mark.parametrize(("body", "status", "type_"), [
    ({}, 400, "invalid-input"),
    ({"opening_float": "100"}, 400, "invalid-input"),
    ({"opening_float": 100.5}, 400, "invalid-input"),
    ({"opening_float": 100.0}, 400, "invalid-input"),
    ({"opening_float": True}, 400, "invalid-input"),
    ({"opening_float": -1}, 400, "invalid-amount"),
    ({"opening_float": 10**16}, 400, "invalid-input"),
    ({"opening_float": 100, "currency": "USD"}, 400, "invalid-amount"),
    ({"opening_float": 100, "drawer_id": "nope"}, 400, "invalid-input"),
    ({"opening_float": 100, "drawer_id": "00000000-0000-0000-0000-000000000000"}, 404, "drawer-not-found"),
])
def test_bad_openings_are_problems_and_open_nothing(api, body, status, type_):
    response = post(api, "shifts", body)
    assert response.status_code == status, response.json()
    assert response["Content-Type"] == "application/problem+json" and response.json()["type"].endswith(type_)
    assert shifts_written() == 0


def test_open_needs_a_key_and_a_cash_role(tenant, api):
    assert post(api, "shifts", {"opening_float": 0}, key=None).status_code == 400
    waiter = make_terminal_client(tenant, "waiter")
    assert post(waiter, "shifts", {"opening_float": 0}).status_code == 403
    assert shifts_written() == 0


def test_cash_movements_and_the_close_answering_the_z_report(tenant, api, manager_api, opened):
    sid = opened["id"]
    payment.charge(tenant_id=tenant.id, amount=mmk(12_000), method="cash", idempotency_key="s1",
                   tendered=mmk(20_000), terminal_id=str(api.terminal.id))
    out = post(api, f"shifts/{sid}/cash-movements", {"kind": "out", "amount": 3_000, "reason": "gas bottle"}, key="m1")
    assert out.status_code == 201, out.json()
    assert out.json()["amount"] == {"amount": 3_000, "currency": "MMK"} and out.json()["reason"] == "gas bottle"
    replay = post(api, f"shifts/{sid}/cash-movements", {"kind": "out", "amount": 3_000, "reason": "gas bottle"},
                  key="m1")
    assert replay.json()["id"] == out.json()["id"]
    for body in ({"kind": "out", "amount": 0, "reason": "x"}, {"kind": "out", "amount": 5, "reason": ""},
                 {"kind": "up", "amount": 5, "reason": "x"}, {"kind": "in", "amount": 5.5, "reason": "x"}):
        assert post(api, f"shifts/{sid}/cash-movements", body, key=f"bad-{body}").status_code == 400
    assert [m["reason"] for m in api.get(f"/api/v1/shifts/{sid}/cash-movements").json()] == ["gas bottle"]

    assert api.get(f"/api/v1/shifts/{sid}/report").status_code == 403  # reports are for managers
    x = manager_api.get(f"/api/v1/shifts/{sid}/report").json()
    assert x["kind"] == "X" and x["cash"]["expected"]["amount"] == 50_000 + 12_000 - 3_000

    closed = post(api, f"shifts/{sid}/close", {"counted": {"cash": 58_500, "card": 0}, "note": "coins short"},
                  key="c1")
    assert closed.status_code == 200, closed.json()
    z = closed.json()
    assert z["kind"] == "Z" and z["shift"]["status"] == "closed"
    assert z["shift"]["closed_by"] == f"terminal:{api.terminal.name}" and z["shift"]["close_note"] == "coins short"
    cash = next(line for line in z["methods"] if line["method"] == "cash")
    assert cash["expected"]["amount"] == 59_000 and cash["counted"]["amount"] == 58_500
    assert cash["difference"]["amount"] == -500
    assert z["cash"]["tendered"]["amount"] == 20_000 and z["cash"]["change_given"]["amount"] == 8_000
    assert post(api, f"shifts/{sid}/close", {"counted": {"cash": 58_500, "card": 0}, "note": "coins short"},
                key="c1").json() == z
    late = post(api, f"shifts/{sid}/cash-movements", {"kind": "in", "amount": 500, "reason": "found"}, key="m2")
    assert late.status_code == 409 and late.json()["type"].endswith("/shift-closed")
    reclose = post(api, f"shifts/{sid}/close", {"counted": {"cash": 59_000}}, key="c2")
    assert reclose.status_code == 409
    assert manager_api.get(f"/api/v1/shifts/{sid}/report").json() == {**z, "kind": "Z"}
    assert api.get("/api/v1/shifts/current").status_code == 404

    listed = api.get("/api/v1/shifts?status=closed&result=short").json()
    assert [s["id"] for s in listed["results"]] == [sid]
    assert listed["results"][0]["cash_difference"] == {"amount": -500, "currency": "MMK"}
    assert api.get("/api/v1/shifts?result=over").json()["count"] == 0
    assert api.get("/api/v1/shifts?status=sideways").status_code == 400
    assert api.get(f"/api/v1/payments?shift_id={sid}").json()["count"] == 1


@pytest.mark.parametrize("body", [
    {"counted": {}}, {"counted": {"card": 5}}, {"counted": {"cash": -1}}, {"counted": {"cash": "5"}},
    {"counted": {"cash": 1, "gold": 1}}, {"counted": [1]}, {},
])
def test_bad_counts_are_problems_and_the_shift_stays_open(api, opened, body):
    response = post(api, f"shifts/{opened['id']}/close", body)
    assert response.status_code == 400, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert api.get(f"/api/v1/shifts/{opened['id']}").json()["status"] == "open"


def test_a_cashier_cannot_close_another_drawers_shift_a_manager_can(tenant, api, manager_api, opened):
    bar = make_terminal_client(tenant, "cashier", name="Bar")
    refused = post(bar, f"shifts/{opened['id']}/close", {"counted": {"cash": 50_000}})
    assert refused.status_code == 403 and refused.json()["type"].endswith("/not-your-drawer")
    closed = post(manager_api, f"shifts/{opened['id']}/close", {"counted": {"cash": 50_000}}, key="mgr")
    assert closed.status_code == 200 and closed.json()["shift"]["closed_by"] == f"terminal:{manager_api.terminal.name}"


def test_another_tenant_reaches_none_of_the_shift_endpoints(api, other_api, opened):
    sid = opened["id"]
    for path in (f"shifts/{sid}", f"shifts/{sid}/report", f"shifts/{sid}/cash-movements"):
        response = other_api.get(f"/api/v1/{path}")
        assert response.status_code == 404, path
        assert response.json()["type"].endswith("/shift-not-found")
    moved = post(other_api, f"shifts/{sid}/cash-movements", {"kind": "out", "amount": 100, "reason": "x"})
    closed = post(other_api, f"shifts/{sid}/close", {"counted": {"cash": 0}}, key="k2")
    assert moved.status_code == 404 and closed.status_code == 404
    assert other_api.get("/api/v1/shifts").json()["count"] == 0
    assert other_api.get("/api/v1/drawers").json() == []
    assert other_api.get("/api/v1/shifts/current").status_code == 404
    drawer = post(other_api, "shifts", {"opening_float": 0, "drawer_id": opened["drawer_id"]}, key="k3")
    assert drawer.status_code == 404
    assert api.get(f"/api/v1/shifts/{sid}").json()["status"] == "open"
    with all_tenants():
        assert CashMovement.objects.using("payment").count() == 0
        assert Shift.objects.using("payment").count() == 1


def test_shift_and_drawer_lists_cost_the_same_queries_however_many_rows(tenant, manager_api):
    from django.db import connections
    from django.test.utils import CaptureQueriesContext

    def open_some(n, start):
        for i in range(start, start + n):
            till = make_terminal_client(tenant, "cashier", name=f"Till {i}")
            assert post(till, "shifts", {"opening_float": 1_000}, key=f"o{i}").status_code == 201

    def count(path):
        with CaptureQueriesContext(connections["payment"]) as payment_db, \
                CaptureQueriesContext(connections["default"]) as default_db:
            assert manager_api.get(path).status_code == 200
        return len(payment_db), len(default_db)

    open_some(2, 0)
    manager_api.get("/api/v1/me")  # the token's once-a-minute "last used" write happens here, not below
    few = (count("/api/v1/shifts"), count("/api/v1/drawers"))
    open_some(6, 2)
    assert (count("/api/v1/shifts"), count("/api/v1/drawers")) == few
    assert manager_api.get("/api/v1/shifts").json()["count"] == 8
