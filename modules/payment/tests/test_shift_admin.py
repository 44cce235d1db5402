"""Admin: managers see their restaurant's shifts with X/Z reports and the over/short history, record cash
movements in an open shift, assign terminals to drawers; nothing reopens or edits a shift; other restaurants'
shifts and terminals stay out of sight."""

from __future__ import annotations

import pytest
from django.test import Client

from modules.accounts import api as accounts
from modules.payment import api as payment
from modules.payment.tests.conftest import mmk

pytestmark = pytest.mark.django_db(databases="__all__")
SHIFTS = "/admin/payment/shift/"
DRAWERS = "/admin/payment/cashdrawer/"


def manager_client(tenant, username) -> Client:
    accounts.create_manager(tenant_id=tenant.id, username=username, password="pw-123456!")
    client = Client()
    assert client.login(username=username, password="pw-123456!")
    return client


def open_shift(tenant, name, amount=50_000):
    till = accounts.create_terminal(tenant_id=tenant.id, name=name).terminal
    shift = payment.open_shift(tenant_id=tenant.id, opening_float=mmk(amount), idempotency_key=f"open-{name}",
                               actor=f"terminal:{name}", terminal_id=str(till.id), terminal_name=name)
    return till, shift


def test_manager_sees_own_shifts_reports_and_over_short_history(tenant, other_tenant):
    till, shift = open_shift(tenant, "Counter")
    payment.charge(tenant_id=tenant.id, amount=mmk(8_000), method="cash", idempotency_key="s1",
                   terminal_id=str(till.id))
    _, theirs = open_shift(other_tenant, "Their till")
    client = manager_client(tenant, "boss")
    page = client.get(SHIFTS).content.decode()
    assert "Counter" in page and "Their till" not in page
    x = client.get(f"{SHIFTS}{shift.id}/change/").content.decode()
    assert "X report" in x and "58,000 MMK" in x  # float + the cash sale
    payment.close_shift(tenant_id=tenant.id, shift_id=shift.id, counted={"cash": mmk(57_500)}, idempotency_key="c",
                        actor="terminal:Counter", terminal_id=str(till.id))
    z = client.get(f"{SHIFTS}{shift.id}/change/").content.decode()
    assert "Z report" in z and "-500 MMK" in z and "terminal:Counter" in z
    assert "-500 MMK (short)" in client.get(f"{SHIFTS}?result=short").content.decode()
    assert "Counter" not in client.get(f"{SHIFTS}?result=over").content.decode().split("result_list")[-1]
    assert client.get(f"{SHIFTS}{theirs.id}/change/").status_code in (302, 404)
    assert client.get(f"{SHIFTS}add/").status_code == 403
    assert client.post(f"{SHIFTS}{shift.id}/change/", {"status": "open"}).status_code == 403
    assert client.post(f"{SHIFTS}{shift.id}/delete/", {"post": "yes"}).status_code == 403
    assert payment.get_shift(tenant_id=tenant.id, shift_id=shift.id).status == "closed"


def test_cash_movement_action_records_once_in_an_open_shift_and_never_in_a_closed_one(tenant):
    till, shift = open_shift(tenant, "Counter")
    client = manager_client(tenant, "boss")
    form = client.post(SHIFTS, {"action": "record_cash_movement", "_selected_action": [shift.id]})
    assert form.status_code == 200 and 'name="reason"' in form.content.decode()
    key = form.context["form"].initial["key"]
    submit = {"action": "record_cash_movement", "_selected_action": [shift.id], "apply": "Record", "kind": "in",
              "amount": 700, "reason": "correction: yesterday's count", "key": key}
    assert client.post(SHIFTS, submit).status_code == 302
    assert client.post(SHIFTS, submit).status_code == 302  # a double submit records once
    (movement,) = payment.get_shift_movements(tenant_id=tenant.id, shift_id=shift.id)
    assert movement.amount == mmk(700) and movement.actor == "admin:boss"
    payment.close_shift(tenant_id=tenant.id, shift_id=shift.id, counted={"cash": mmk(50_700)}, idempotency_key="c",
                        actor="t", terminal_id=str(till.id))
    refused = client.post(SHIFTS, {"action": "record_cash_movement", "_selected_action": [shift.id]}, follow=True)
    assert "a closed shift never changes" in refused.content.decode()
    assert len(payment.get_shift_movements(tenant_id=tenant.id, shift_id=shift.id)) == 1


def test_drawers_get_terminals_of_the_managers_own_restaurant_only(tenant, other_tenant):
    counter = accounts.create_terminal(tenant_id=tenant.id, name="Counter").terminal
    waiter = accounts.create_terminal(tenant_id=tenant.id, name="Waiter phone", role="waiter").terminal
    foreign = accounts.create_terminal(tenant_id=other_tenant.id, name="Foreign till").terminal
    client = manager_client(tenant, "boss")
    assert client.post(f"{DRAWERS}add/", {"name": "Front drawer"}).status_code == 302
    (drawer,) = payment.get_drawers(tenant_id=tenant.id)
    change = client.get(f"{DRAWERS}{drawer.id}/change/").content.decode()
    assert "Waiter phone" in change and "Foreign till" not in change
    inline = {"terminals-TOTAL_FORMS": "2", "terminals-INITIAL_FORMS": "0", "terminals-MIN_NUM_FORMS": "0",
              "terminals-MAX_NUM_FORMS": "1000", "name": "Front drawer",
              "terminals-0-terminal": str(counter.id), "terminals-1-terminal": str(waiter.id)}
    assert client.post(f"{DRAWERS}{drawer.id}/change/", inline).status_code == 302
    (drawer,) = payment.get_drawers(tenant_id=tenant.id)
    assert sorted(t.terminal_name for t in drawer.terminals) == ["Counter", "Waiter phone"]
    hostile = {**inline, "terminals-TOTAL_FORMS": "1", "terminals-0-terminal": str(foreign.id)}
    del hostile["terminals-1-terminal"]
    assert client.post(f"{DRAWERS}{drawer.id}/change/", hostile).status_code == 200  # not a valid choice
    assert payment.get_drawers(tenant_id=other_tenant.id) == []
    # the waiter's phone opens the shift of the shared drawer; the counter's cash counts in it
    shift = payment.open_shift(tenant_id=tenant.id, opening_float=mmk(0), idempotency_key="o", actor="t",
                               terminal_id=str(waiter.id), terminal_name="Waiter phone")
    assert shift.drawer_id == drawer.id
    paid = payment.charge(tenant_id=tenant.id, amount=mmk(3_000), method="cash", idempotency_key="k",
                          terminal_id=str(counter.id))
    assert paid.shift_id == shift.id
    assert client.post(f"{DRAWERS}{drawer.id}/delete/", {"post": "yes"}).status_code == 403


def test_other_restaurants_drawers_and_movements_stay_out_of_sight(tenant, other_tenant):
    their_till, theirs = open_shift(other_tenant, "Their till")
    payment.record_cash_movement(tenant_id=other_tenant.id, shift_id=theirs.id, kind="out", amount=mmk(900),
                                 reason="their supplier", idempotency_key="m", actor="t",
                                 terminal_id=str(their_till.id))
    _, ours = open_shift(tenant, "Counter")
    client = manager_client(tenant, "boss")
    (their_drawer,) = payment.get_drawers(tenant_id=other_tenant.id)
    assert "Their till" not in client.get(DRAWERS).content.decode()
    assert client.get(f"{DRAWERS}{their_drawer.id}/change/").status_code in (302, 404)
    assert "their supplier" not in client.get("/admin/payment/cashmovement/").content.decode()
    refused = client.post(SHIFTS, {"action": "record_cash_movement", "_selected_action": [theirs.id],
                                   "apply": "Record", "kind": "in", "amount": 5, "reason": "x", "key": "k"})
    assert refused.status_code in (200, 302)
    assert len(payment.get_shift_movements(tenant_id=other_tenant.id, shift_id=theirs.id)) == 1
    assert payment.get_shift_movements(tenant_id=tenant.id, shift_id=ours.id) == []
