"""Shifts under concurrency on PostgreSQL: a sale racing the close lands in exactly one shift (counted in that
shift's Z report) or is refused; one open shift per drawer however many terminals open at once; a cash movement
racing the close is in the Z report or refused."""

from __future__ import annotations

import pytest

from conftest import at_once, make_tenant
from modules.accounts import api as accounts
from modules.payment import api as payment
from modules.payment.tests.conftest import mmk

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases="__all__", transaction=True),
              pytest.mark.usefixtures("postgres_only")]



def open_shift(tenant, terminal, key):
    return payment.open_shift(tenant_id=tenant.id, opening_float=mmk(10_000), idempotency_key=key, actor="t",
                              terminal_id=str(terminal.id), terminal_name=terminal.name)


def close(tenant, shift, key="close"):
    return payment.close_shift(tenant_id=tenant.id, shift_id=shift.id, counted={"cash": mmk(0)},
                               idempotency_key=key, actor="t", any_drawer=True)


@pytest.mark.parametrize("strict", [True, False])
def test_a_sale_racing_the_close_lands_in_exactly_one_shift(strict):
    tenant = make_tenant("Race Tea", require_open_shift_for_cash=strict)
    till = accounts.create_terminal(tenant_id=tenant.id, name="Till").terminal
    first = open_shift(tenant, till, "open-1")
    n = 16

    def act(i):
        if i == n // 2:
            report = close(tenant, first)
            return ("closed", report, None if strict else open_shift(tenant, till, "open-2"))
        return payment.charge(tenant_id=tenant.id, amount=mmk(1_000 + i * 50), method="cash",
                              idempotency_key=f"sale-{i}", terminal_id=str(till.id))

    results = at_once(n + 1, act)
    (_, z, second) = next(r for r in results if isinstance(r, tuple))
    sales = [r for r in results if isinstance(r, payment.PaymentInfo)]
    refused = [r for r in results if isinstance(r, payment.ShiftRequired)]
    assert len(sales) + len(refused) == n, results
    assert not strict or all(s.shift_id == first.id for s in sales)
    in_first = [s for s in sales if s.shift_id == first.id]
    cash = next(line for line in z.methods if line.method == "cash")
    assert cash.sales_count == len(in_first) and cash.sales == mmk(sum(s.captured.amount for s in in_first))
    assert z.cash.expected == mmk(10_000 + sum(s.captured.amount for s in in_first))
    # nothing joined the closed shift afterwards: its Z report is what its payments say
    listed = payment.get_payments(tenant_id=tenant.id, payment_ids=[s.id for s in sales])
    assert {pid for pid, p in listed.items() if p.shift_id == first.id} == {s.id for s in in_first}
    if not strict:
        # each sale is in the first shift or in the one opened after the close, never in neither
        assert all(s.shift_id in (first.id, second.id) or s.shift_id is None for s in sales)
        later = [s for s in sales if s.shift_id != first.id]
        x = payment.get_shift_report(tenant_id=tenant.id, shift_id=second.id)
        in_second = [s for s in later if s.shift_id == second.id]
        assert next(m for m in x.methods if m.method == "cash").sales == mmk(sum(s.captured.amount for s in in_second))


def test_twenty_terminals_opening_one_drawer_open_one_shift():
    tenant = make_tenant("Open Race")
    till = accounts.create_terminal(tenant_id=tenant.id, name="Till").terminal
    results = at_once(20, lambda i: open_shift(tenant, till, f"open-{i}"))
    opened = [r for r in results if isinstance(r, payment.ShiftInfo)]
    assert len(opened) == 1, results
    assert all(isinstance(r, payment.ShiftAlreadyOpen) for r in results if r not in opened), results
    assert len(payment.get_drawers(tenant_id=tenant.id)) == 1


def test_the_same_open_key_twenty_times_opens_one_shift():
    tenant = make_tenant("Key Race")
    till = accounts.create_terminal(tenant_id=tenant.id, name="Till").terminal
    results = at_once(20, lambda i: open_shift(tenant, till, "one-key"))
    assert len({r.id for r in results if isinstance(r, payment.ShiftInfo)}) == 1
    assert all(isinstance(r, payment.ShiftInfo) for r in results), results


def test_a_cash_movement_racing_the_close_is_in_the_z_report_or_refused():
    tenant = make_tenant("Movement Race")
    till = accounts.create_terminal(tenant_id=tenant.id, name="Till").terminal
    shift = open_shift(tenant, till, "open")
    n = 12

    def act(i):
        if i == n // 2:
            return close(tenant, shift)
        return payment.record_cash_movement(tenant_id=tenant.id, shift_id=shift.id, kind="out", amount=mmk(100),
                                            reason="pay-out", idempotency_key=f"m-{i}", actor="t",
                                            terminal_id=str(till.id))

    results = at_once(n + 1, act)
    z = next(r for r in results if isinstance(r, payment.ShiftReport))
    recorded = [r for r in results if isinstance(r, payment.CashMovementInfo)]
    assert len(recorded) + sum(isinstance(r, payment.ShiftClosed) for r in results) == n, results
    assert {m.id for m in z.movements} == {m.id for m in recorded}
    assert z.cash.cash_out == mmk(100 * len(recorded))
    assert [m.id for m in payment.get_shift_movements(tenant_id=tenant.id, shift_id=shift.id)] == \
        [m.id for m in z.movements]
