"""Faults at every step of table service: the call to the other module fails before it is made, or is made and
its answer is lost, or pos_core fails to record the outcome. Afterwards the durable rows and the other modules'
answers by key are enough: a retry with the same key or `recover` finishes once (no second reservation, ticket,
charge or commit), or gives back what was taken."""

from __future__ import annotations

from datetime import timedelta

import pytest

from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core.models import KitchenTicket, Order, OrderPayment, OrderRound
from modules.pos_core.table_service import flows, store
from pos.tenancy import tenant_context

from .conftest import available

pytestmark = pytest.mark.django_db(databases="__all__")
NOW = timedelta(0)


class Boom(RuntimeError):
    pass


def fail(monkeypatch, owner, name: str, mode: str) -> None:
    """`before`: the call never happens. `lost`: it happens, then its answer is lost. Once only."""
    real = getattr(owner, name)
    state = {"done": False}

    def faulty(*args, **kwargs):
        if state["done"]:
            return real(*args, **kwargs)
        state["done"] = True
        if mode == "lost":
            real(*args, **kwargs)
        raise Boom(f"{mode} at {name}")

    monkeypatch.setattr(owner, name, faulty)


def open_with_round(tenant, table, quantity=2) -> Order:
    return flows.open_check(tenant_id=tenant.id, idempotency_key="open-1", data={
        "service": "table", "table_id": str(table.id),
        "items": [{"product_id": "mohinga", "quantity": quantity}]})


def tickets(tenant) -> list[KitchenTicket]:
    with tenant_context(tenant.id):
        return list(KitchenTicket.objects.all())


@pytest.mark.parametrize("owner,name,mode", [(inventory, "reserve_stock", "before"),
                                              (inventory, "reserve_stock", "lost"),
                                              (store, "round_record", "before")])
def test_a_round_interrupted_at_any_step_is_sent_once(tenant, catalog, table, monkeypatch, owner, name, mode):
    check = flows.open_check(tenant_id=tenant.id, idempotency_key="open-1",
                             data={"service": "table", "table_id": str(table.id)})
    body = {"items": [{"product_id": "mohinga", "quantity": 2}], "version": check.version}
    fail(monkeypatch, owner, name, mode)
    with pytest.raises(Boom):
        flows.add_round(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="round-1", data=body)
    assert not tickets(tenant)
    assert available(tenant.id, "mohinga") == (8 if mode == "lost" or owner is store else 10)
    summary = flows.recover(older_than=NOW)
    assert summary["rounds"] == 1
    order = flows.add_round(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="round-1", data=body)
    assert [item.quantity for item in order.items.all()] == [2]
    assert len(tickets(tenant)) == 1 and available(tenant.id, "mohinga") == 8


@pytest.mark.parametrize("owner,name,mode", [(inventory, "reduce_reservation", "before"),
                                              (inventory, "reduce_reservation", "lost"),
                                              (store, "void_record", "before")])
def test_a_void_interrupted_at_any_step_releases_once(tenant, catalog, table, monkeypatch, owner, name, mode):
    check = open_with_round(tenant, table)
    item = check.items.get()
    fail(monkeypatch, owner, name, mode)
    data = {"reason": "wrong table", "made": False, "quantity": 1}
    with pytest.raises(Boom):
        flows.void_item(tenant_id=tenant.id, order_id=str(check.id), item_id=str(item.id), idempotency_key="void-1",
                        data=data, actor="test", role="manager")
    flows.recover(older_than=NOW)
    order = flows.void_item(tenant_id=tenant.id, order_id=str(check.id), item_id=str(item.id),
                            idempotency_key="void-1", data=data, actor="test", role="manager")
    assert order.items.get().quantity == 1 and order.total == 3000
    assert available(tenant.id, "mohinga") == 9
    assert [t.kind for t in tickets(tenant)].count("void") == 1


@pytest.mark.parametrize("mode", ["before", "lost"])
def test_a_payment_the_till_never_heard_of_is_given_back_by_recovery(tenant, catalog, table, monkeypatch, mode):
    check = open_with_round(tenant, table)
    fail(monkeypatch, payment, "charge", mode)
    with pytest.raises(Boom):
        flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1",
                  data={"method": "card", "amount": 6000})
    with tenant_context(tenant.id):
        row = OrderPayment.objects.get()
        assert row.status == "pending" and Order.objects.get(pk=check.id).pending == 6000
    monkeypatch.undo()
    summary = flows.recover(older_than=NOW)
    assert summary["payments"] == 1
    with tenant_context(tenant.id):
        row.refresh_from_db()
        order = Order.objects.get(pk=check.id)
    assert order.pending == 0 and order.paid == 0 and order.status == "open"
    info = payment.find_payment(tenant_id=tenant.id, idempotency_key=row.charge_key)
    if mode == "before":  # the charge never reached payment: looked up by its key, never charged to find out
        assert row.status == "declined" and info is None
    else:  # captured, then its answer was lost: refunded, nothing kept from the guest
        assert row.status == "refunded" and info.captured.amount - info.refunded.amount == 0
    paid = flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-2",
                     data={"method": "card", "amount": 6000})
    assert paid.status == "captured" and paid.order.status == "completed"


@pytest.mark.parametrize("mode", ["before", "lost"])
def test_a_payment_retried_with_its_key_is_charged_once(tenant, catalog, table, monkeypatch, mode):
    check = open_with_round(tenant, table)
    fail(monkeypatch, payment, "charge", mode)
    data = {"method": "card", "amount": 6000, "tip": 500}
    with pytest.raises(Boom):
        flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1", data=data)
    row = flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1", data=data)
    assert row.status == "captured" and row.captured == 6500 and row.order.status == "completed"
    assert row.order.tips == 500 and row.order.paid == 6000
    info = payment.get_payment(tenant_id=tenant.id, payment_id=row.payment_id)
    assert info.captured.amount == 6500
    assert available(tenant.id, "mohinga") == 8


def test_recording_a_capture_that_fails_is_finished_by_the_retry(tenant, catalog, table, monkeypatch):
    check = open_with_round(tenant, table)
    fail(monkeypatch, store, "payment_captured", "before")
    data = {"method": "cash", "amount": 6000, "tendered": 10000}
    with pytest.raises(Boom):
        flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1", data=data)
    row = flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1", data=data)
    assert row.order.status == "completed" and row.change_due == 4000
    with tenant_context(tenant.id):
        assert OrderPayment.objects.count() == 1


@pytest.mark.parametrize("owner,name,mode", [(inventory, "commit_reservation", "before"),
                                              (inventory, "commit_reservation", "lost"),
                                              (store, "order_complete", "before")])
def test_completion_interrupted_at_any_step_is_finished_by_recovery(tenant, catalog, table, monkeypatch, owner, name,
                                                                    mode):
    check = open_with_round(tenant, table)
    fail(monkeypatch, owner, name, mode)
    with pytest.raises(Boom):
        flows.pay(tenant_id=tenant.id, order_id=str(check.id), idempotency_key="pay-1",
                  data={"method": "card", "amount": 6000})
    with tenant_context(tenant.id):
        assert Order.objects.get(pk=check.id).paid == 6000  # the capture is on the check
    summary = flows.recover(older_than=NOW)
    assert summary["completed"] == 1
    with tenant_context(tenant.id):
        order = Order.objects.get(pk=check.id)
        assert order.status == "completed" and OrderRound.objects.get().reservation_committed
    levels = inventory.get_stock_levels(tenant_id=tenant.id, items=[("mohinga", None)])[("mohinga", None)]
    assert levels.on_hand == 8 and levels.available == 8
    assert flows.recover(older_than=NOW)["completed"] == 0


def test_an_abandoned_check_is_flagged_not_dropped(tenant, catalog, table):
    check = open_with_round(tenant, table)
    from django.utils import timezone

    assert store.checks_flag_stale(now=timezone.now()) == 0
    assert store.checks_flag_stale(now=timezone.now() + timedelta(hours=5)) == 1
    with tenant_context(tenant.id):
        order = Order.objects.get(pk=check.id)
    assert order.flagged_at is not None and order.status == "open"
    assert available(tenant.id, "mohinga") == 8  # still held for the guests, never silently released
