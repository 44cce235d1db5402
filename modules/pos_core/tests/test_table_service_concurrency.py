"""Races on one check (PostgreSQL: row locks and real concurrent connections): waiters adding rounds at once,
tills paying the last amount due at once, the same payment key from several threads."""

from __future__ import annotations

import pytest

from conftest import at_once
from modules.payment import api as payment
from modules.pos_core.errors import PaymentExceedsDue, StaleOrder
from modules.pos_core.models import KitchenTicket, Order, OrderItem, OrderPayment, OrderRound
from modules.pos_core.table_service import flows
from pos.errors import DomainError
from pos.tenancy import tenant_context

from .conftest import available, make_catalog

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres,
              pytest.mark.usefixtures("postgres_only")]


def open_check(tenant, table, quantity=0) -> Order:
    data = {"service": "table", "table_id": str(table.id)}
    if quantity:
        data["items"] = [{"product_id": "mohinga", "quantity": quantity}]
    return flows.open_check(tenant_id=tenant.id, idempotency_key="open", data=data)


def test_two_waiters_with_the_same_version_one_round_wins_the_other_is_409(tenant, table):
    make_catalog(tenant.id)
    check = open_check(tenant, table)
    results = at_once(2, lambda i: flows.add_round(
        tenant_id=tenant.id, order_id=str(check.id), idempotency_key=f"round-{i}",
        data={"items": [{"product_id": "mohinga", "quantity": 1}], "version": check.version}))
    won = [r for r in results if isinstance(r, Order)]
    stale = [r for r in results if isinstance(r, StaleOrder)]
    assert len(won) == 1 and len(stale) == 1, results
    with tenant_context(tenant.id):
        assert OrderItem.objects.filter(order_id=check.id).count() == 1
        assert OrderRound.objects.filter(status="sent").count() == 1 and KitchenTicket.objects.count() == 1
    assert available(tenant.id, "mohinga") == 9


def test_many_waiters_adding_rounds_lose_none(tenant, table):
    """Each waiter retries on 409 with the version it reloads: every round lands exactly once."""
    make_catalog(tenant.id, stock=50)
    check = open_check(tenant, table)

    def waiter(i: int) -> Order:
        for _ in range(50):
            with tenant_context(tenant.id):
                version = Order.objects.get(pk=check.id).version
            try:
                return flows.add_round(tenant_id=tenant.id, order_id=str(check.id), idempotency_key=f"round-{i}",
                                       data={"items": [{"product_id": "mohinga", "quantity": 1,
                                                        "note": f"waiter {i}"}], "version": version})
            except StaleOrder:
                continue
        raise AssertionError("never got a turn")

    results = at_once(6, waiter)
    assert all(isinstance(r, Order) for r in results), results
    with tenant_context(tenant.id):
        notes = sorted(OrderItem.objects.filter(order_id=check.id).values_list("note", flat=True))
        assert notes == sorted(f"waiter {i}" for i in range(6))
        assert KitchenTicket.objects.count() == 6 and Order.objects.get(pk=check.id).total == 6 * 3000
    assert available(tenant.id, "mohinga") == 44


def test_two_payments_racing_for_the_last_amount_due_one_wins(tenant, table):
    make_catalog(tenant.id)
    check = open_check(tenant, table, quantity=2)  # 6000
    flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="first",
              data={"method": "card", "amount": 2000})
    results = at_once(2, lambda i: flows.pay(tenant_id=tenant.id, order_id=str(check.id),
                                                 idempotency_key=f"last-{i}",
                                                 data={"method": ["card", "kbzpay"][i], "amount": 4000}))
    won = [r for r in results if isinstance(r, OrderPayment)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert isinstance(lost[0], PaymentExceedsDue) or lost[0].status == 409
    with tenant_context(tenant.id):
        order = Order.objects.get(pk=check.id)
        captured = list(OrderPayment.objects.filter(status="captured").values_list("payment_id", flat=True))
    assert order.status == "completed" and order.paid == 6000 and order.pending == 0
    taken = payment.get_payments(tenant_id=tenant.id, payment_ids=captured)
    assert sum(p.captured.amount for p in taken.values()) == 6000
    assert available(tenant.id, "mohinga") == 8


def test_the_same_payment_key_from_many_threads_charges_once(tenant, table):
    make_catalog(tenant.id)
    check = open_check(tenant, table, quantity=2)
    results = at_once(6, lambda i: flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="same",
                                                 data={"method": "card", "amount": 6000}))
    # A thread that meets the charge still in flight is told to retry (503), never charged again.
    assert all(isinstance(r, OrderPayment) or getattr(r, "status", None) == 503 for r in results), results
    row = flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="same",
                    data={"method": "card", "amount": 6000})
    assert row.status == "captured"
    with tenant_context(tenant.id):
        assert OrderPayment.objects.count() == 1
        assert Order.objects.get(pk=check.id).paid == 6000
    assert payment.get_payment(tenant_id=tenant.id, payment_id=row.payment_id).captured.amount == 6000
