"""Shifts through payment's api: float, attribution of payments and refunds, cash movements, the Z report's
arithmetic, late payments and refunds, the restaurant's "open shift for cash" setting, idempotency."""

from __future__ import annotations

import pytest

from conftest import make_tenant
from modules.accounts import api as accounts
from modules.payment import api as payment
from modules.payment.models import CashMovement, Payment, Shift
from modules.payment.tests.conftest import mmk, payments_written
from pos.money import Money
from pos.tenancy import all_tenants

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def till(tenant):
    return accounts.create_terminal(tenant_id=tenant.id, name="Counter 1").terminal


@pytest.fixture
def shift(tenant, till):
    return open_on(tenant, till, 50_000)


def open_on(tenant, terminal, amount, key=None):
    return payment.open_shift(tenant_id=tenant.id, opening_float=mmk(amount), idempotency_key=key or f"open-{amount}",
                              actor=f"terminal:{terminal.name}", terminal_id=str(terminal.id),
                              terminal_name=terminal.name)


def cash(tenant, terminal, amount, key, tendered=None):
    return payment.charge(tenant_id=tenant.id, amount=mmk(amount), method="cash", idempotency_key=key,
                          tendered=mmk(tendered) if tendered else None, terminal_id=str(terminal.id))


def close(tenant, shift, counted, key="close", terminal=None):
    return payment.close_shift(tenant_id=tenant.id, shift_id=shift.id, idempotency_key=key, actor="terminal:Counter 1",
                               counted={m: mmk(v) for m, v in counted.items()},
                               terminal_id=str(terminal.id) if terminal else "", any_drawer=terminal is None)


def test_opening_creates_the_terminals_drawer_and_payments_count_in_the_shift(tenant, till, shift):
    assert shift.status == "open" and shift.opening_float == mmk(50_000) and shift.drawer_name == "Counter 1"
    (drawer,) = payment.get_drawers(tenant_id=tenant.id)
    assert drawer.open_shift_id == shift.id and [t.terminal_id for t in drawer.terminals] == [str(till.id)]
    paid = cash(tenant, till, 12_320, "sale-1", tendered=20_000)
    assert paid.shift_id == shift.id and paid.late_for_shift_id is None
    card = payment.charge(tenant_id=tenant.id, amount=mmk(8_000), method="card", idempotency_key="sale-2",
                          terminal_id=str(till.id))
    assert card.shift_id == shift.id
    no_terminal = payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="card", idempotency_key="sale-3")
    assert no_terminal.shift_id is None
    assert payment.current_shift(tenant_id=tenant.id, terminal_id=str(till.id)).id == shift.id


def test_z_report_expected_versus_counted_per_method(tenant, till, shift):
    cash(tenant, till, 12_320, "s1", tendered=20_000)  # rounds to 12,300; change 7,700
    cash(tenant, till, 5_000, "s2")  # exact cash
    card = payment.charge(tenant_id=tenant.id, amount=mmk(30_000), method="card", idempotency_key="s3",
                          terminal_id=str(till.id))
    payment.charge(tenant_id=tenant.id, amount=mmk(9_000), method="kbzpay", idempotency_key="s4",
                   terminal_id=str(till.id))
    refunded = cash(tenant, till, 4_000, "s5")
    payment.refund(tenant_id=tenant.id, payment_id=refunded.id, amount=mmk(1_500), idempotency_key="r1",
                   reason="cold soup", terminal_id=str(till.id))
    payment.refund(tenant_id=tenant.id, payment_id=card.id, amount=mmk(10_000), idempotency_key="r2",
                   reason="wrong dish", terminal_id=str(till.id))
    payment.record_cash_movement(tenant_id=tenant.id, shift_id=shift.id, kind="out", amount=mmk(6_000),
                                 reason="ice from the market", idempotency_key="m1", actor="t",
                                 terminal_id=str(till.id))
    payment.record_cash_movement(tenant_id=tenant.id, shift_id=shift.id, kind="in", amount=mmk(10_000),
                                 reason="float top-up", idempotency_key="m2", actor="t", terminal_id=str(till.id))
    x = payment.get_shift_report(tenant_id=tenant.id, shift_id=shift.id)
    # float + tendered - change - cash refunds + in - out
    expected_cash = 50_000 + (20_000 + 5_000 + 4_000) - 7_700 - 1_500 + 10_000 - 6_000
    assert x.kind == "X" and x.cash.expected == mmk(expected_cash)
    assert x.cash.sales == mmk(12_300 + 5_000 + 4_000) and x.cash.rounding == mmk(-20)
    report = close(tenant, shift, {"cash": expected_cash - 300, "card": 20_000}, terminal=till)
    assert report.kind == "Z" and report.shift.status == "closed" and report.shift.closed_by == "terminal:Counter 1"
    lines = {line.method: line for line in report.methods}
    assert lines["cash"].expected == mmk(expected_cash) and lines["cash"].difference == mmk(-300)
    assert lines["cash"].sales_count == 3 and lines["cash"].refunds == mmk(1_500)
    assert lines["card"].expected == mmk(20_000) and lines["card"].difference == mmk(0)
    assert lines["kbzpay"].expected == mmk(9_000) and lines["kbzpay"].counted is None
    assert lines["wavepay"].sales_count == 0
    assert [m.reason for m in report.movements] == ["ice from the market", "float top-up"]
    info = payment.get_shift(tenant_id=tenant.id, shift_id=shift.id)
    assert info.cash_difference == mmk(-300) and info.counted_cash == mmk(expected_cash - 300)
    assert payment.get_shift_report(tenant_id=tenant.id, shift_id=shift.id) == report  # the Z report as kept


def test_a_closed_shift_never_changes(tenant, till, shift):
    cash(tenant, till, 5_000, "s1")
    first = close(tenant, shift, {"cash": 55_000}, terminal=till)
    assert close(tenant, shift, {"cash": 55_000}, terminal=till) == first  # same key: the same Z report
    with pytest.raises(payment.IdempotencyConflict):
        close(tenant, shift, {"cash": 1}, terminal=till)
    with pytest.raises(payment.ShiftClosed):
        close(tenant, shift, {"cash": 55_000}, key="close-again", terminal=till)
    with pytest.raises(payment.ShiftClosed):
        payment.record_cash_movement(tenant_id=tenant.id, shift_id=shift.id, kind="in", amount=mmk(100),
                                     reason="late", idempotency_key="m", actor="t", terminal_id=str(till.id))
    later = cash(tenant, till, 2_000, "after-close")
    assert later.shift_id is None  # no shift open on the drawer now
    assert payment.get_shift_report(tenant_id=tenant.id, shift_id=shift.id) == first
    with all_tenants():
        assert CashMovement.objects.using("payment").count() == 0


def test_a_refund_of_a_closed_shifts_payment_counts_in_the_current_shift_and_says_so(tenant, till, shift):
    paid = cash(tenant, till, 8_000, "s1")
    close(tenant, shift, {"cash": 58_000}, terminal=till)
    second = open_on(tenant, till, 40_000, key="open-2")
    refund = payment.refund(tenant_id=tenant.id, payment_id=paid.id, amount=mmk(3_000), idempotency_key="r1",
                            reason="returned", terminal_id=str(till.id))
    assert refund.shift_id == second.id and refund.late_for_shift_id == shift.id
    report = payment.get_shift_report(tenant_id=tenant.id, shift_id=second.id)
    assert report.cash.refunds == mmk(3_000) and report.cash.expected == mmk(37_000) and report.late_refunds == 1
    assert payment.get_shift_report(tenant_id=tenant.id, shift_id=shift.id).cash.refunds == mmk(0)


def test_a_payment_captured_after_its_shift_closed_counts_in_the_current_one(tenant, till, shift):
    from modules.payment import gateways

    with gateways.simulate(charge="timeout", lookup="unavailable"):
        with pytest.raises(payment.PaymentAmbiguous) as pending:
            payment.charge(tenant_id=tenant.id, amount=mmk(7_000), method="card", idempotency_key="slow",
                           terminal_id=str(till.id))
    payment_id = pending.value.extra["payment_id"]
    z = close(tenant, shift, {"cash": 50_000, "card": 0}, terminal=till)
    assert z.pending_payments == 1 and {m.method: m.sales for m in z.methods}["card"] == mmk(0)
    second = open_on(tenant, till, 30_000, key="open-2")
    settled = payment.charge(tenant_id=tenant.id, amount=mmk(7_000), method="card", idempotency_key="slow",
                             terminal_id=str(till.id))  # the retry looks it up: captured
    assert settled.status == "captured"
    assert settled.shift_id == second.id and settled.late_for_shift_id == shift.id
    assert payment.get_payment(tenant_id=tenant.id, payment_id=payment_id).shift_id == second.id
    report = payment.get_shift_report(tenant_id=tenant.id, shift_id=second.id)
    assert {m.method: m.sales for m in report.methods}["card"] == mmk(7_000) and report.late_payments == 1
    assert payment.get_shift_report(tenant_id=tenant.id, shift_id=shift.id) == z


def test_cash_needs_an_open_shift_only_when_the_restaurant_says_so(tenant, till, nothing_written):
    strict = make_tenant("Strict Tea", require_open_shift_for_cash=True)
    strict_till = accounts.create_terminal(tenant_id=strict.id, name="Till").terminal
    assert accounts.get_tenant(tenant.id).require_open_shift_for_cash is False
    with pytest.raises(payment.ShiftRequired) as refused:
        cash(strict, strict_till, 5_000, "k")
    assert refused.value.status == 409 and "open shift" in refused.value.detail
    with pytest.raises(payment.ShiftRequired):
        payment.check_cash_shift(tenant_id=strict.id, terminal_id=str(strict_till.id))


def test_strict_restaurant_takes_cash_in_a_shift_and_cards_without(db):
    strict = make_tenant("Strict Tea", require_open_shift_for_cash=True)
    strict_till = accounts.create_terminal(tenant_id=strict.id, name="Till").terminal
    before = payments_written()
    card = payment.charge(tenant_id=strict.id, amount=mmk(5_000), method="card", idempotency_key="c",
                          terminal_id=str(strict_till.id))
    assert card.status == "captured" and card.shift_id is None
    shift = open_on(strict, strict_till, 0)
    payment.check_cash_shift(tenant_id=strict.id, terminal_id=str(strict_till.id))
    assert cash(strict, strict_till, 5_000, "k").shift_id == shift.id
    assert payments_written() == before + 2


def test_opening_is_idempotent_and_one_shift_per_drawer(tenant, till, shift):
    assert open_on(tenant, till, 50_000) == shift  # same key, same float
    with pytest.raises(payment.IdempotencyConflict):
        open_on(tenant, till, 10_000, key="open-50000")
    with pytest.raises(payment.ShiftAlreadyOpen) as already:
        open_on(tenant, till, 10_000, key="another")
    assert already.value.extra["shift_id"] == shift.id
    with all_tenants():
        assert Shift.objects.using("payment").count() == 1


@pytest.mark.parametrize(("value", "error"), [
    (mmk(-1), payment.InvalidAmount),
    (Money(100, "USD"), payment.InvalidAmount),
    (100, payment.InvalidAmount),
])
def test_bad_floats_open_nothing(tenant, till, value, error):
    with pytest.raises(error):
        payment.open_shift(tenant_id=tenant.id, opening_float=value, idempotency_key="k", actor="t",
                           terminal_id=str(till.id), terminal_name=till.name)
    with all_tenants():
        assert Shift.objects.using("payment").count() == 0


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"kind": "sideways"}, payment.InvalidShiftRequest),
    ({"reason": "  "}, payment.InvalidShiftRequest),
    ({"amount": mmk(0)}, payment.InvalidAmount),
    ({"amount": mmk(-5)}, payment.InvalidAmount),
    ({"amount": Money(5, "THB")}, payment.InvalidAmount),
    ({"idempotency_key": ""}, payment.IdempotencyKeyRequired),
    ({"shift_id": "not-a-shift"}, payment.ShiftNotFound),
])
def test_bad_cash_movements_record_nothing(tenant, till, shift, kwargs, error):
    call = {"tenant_id": tenant.id, "shift_id": shift.id, "kind": "out", "amount": mmk(500), "reason": "tip jar",
            "idempotency_key": "m", "actor": "t", "terminal_id": str(till.id), **kwargs}
    with pytest.raises(error):
        payment.record_cash_movement(**call)
    with all_tenants():
        assert CashMovement.objects.using("payment").count() == 0


@pytest.mark.parametrize(("counted", "error"), [
    ({}, payment.InvalidShiftRequest),
    ({"card": mmk(0)}, payment.InvalidShiftRequest),  # cash must be counted
    ({"cash": mmk(-1)}, payment.InvalidAmount),
    ({"cash": mmk(1), "bitcoin": mmk(1)}, payment.InvalidShiftRequest),
    ({"cash": Money(1, "USD")}, payment.InvalidAmount),
])
def test_bad_counts_leave_the_shift_open(tenant, till, shift, counted, error):
    with pytest.raises(error):
        payment.close_shift(tenant_id=tenant.id, shift_id=shift.id, counted=counted, idempotency_key="c", actor="t",
                            terminal_id=str(till.id))
    assert payment.get_shift(tenant_id=tenant.id, shift_id=shift.id).status == "open"


def test_a_cashier_terminal_acts_only_on_its_own_drawer(tenant, till, shift):
    other = accounts.create_terminal(tenant_id=tenant.id, name="Bar").terminal
    with pytest.raises(payment.NotYourDrawer):
        close(tenant, shift, {"cash": 1}, terminal=other)
    with pytest.raises(payment.NotYourDrawer):
        payment.open_shift(tenant_id=tenant.id, opening_float=mmk(0), idempotency_key="x", actor="t",
                           terminal_id=str(other.id), drawer_id=shift.drawer_id)
    assert payment.get_shift(tenant_id=tenant.id, shift_id=shift.id).status == "open"


def test_another_tenant_sees_no_shift(tenant, other_tenant, till, shift):
    with pytest.raises(payment.ShiftNotFound):
        payment.get_shift(tenant_id=other_tenant.id, shift_id=shift.id)
    with pytest.raises(payment.ShiftNotFound):
        payment.get_shift_report(tenant_id=other_tenant.id, shift_id=shift.id)
    with pytest.raises(payment.ShiftNotFound):
        payment.close_shift(tenant_id=other_tenant.id, shift_id=shift.id, counted={"cash": mmk(0)},
                            idempotency_key="c", actor="t", any_drawer=True)
    with pytest.raises(payment.ShiftNotFound):
        payment.record_cash_movement(tenant_id=other_tenant.id, shift_id=shift.id, kind="in", amount=mmk(1),
                                     reason="x", idempotency_key="m", actor="t", any_drawer=True)
    assert payment.get_drawers(tenant_id=other_tenant.id) == []
    # another tenant's terminal id finds no drawer here: its payments count in no shift of ours
    theirs = accounts.create_terminal(tenant_id=other_tenant.id, name="Counter 1").terminal
    paid = payment.charge(tenant_id=other_tenant.id, amount=mmk(1_000), method="cash", idempotency_key="k",
                          terminal_id=str(till.id))
    assert paid.shift_id is None and theirs.id != till.id
    with all_tenants():
        assert Payment.objects.using("payment").filter(shift_id=shift.id).count() == 0
