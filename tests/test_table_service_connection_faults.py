"""Table service under lost database connections (PostgreSQL): a real `pg_terminate_backend` of this process's own
backend right after each call table service makes to another module, under the callee during the call, before
each step is recorded, and during every compensation. The terminal hears 503 (never a 500); a retry with the same
Idempotency-Key or recovery then finishes each step once: one round, one ticket, one capture per tender, stock held
or sold or released exactly once, and `reconcile` finds the modules in agreement."""

from __future__ import annotations

import functools
import itertools
from datetime import timedelta

import pytest
from django.db import connections
from django.utils import timezone

from conftest import make_terminal_client, terminate_own_backend
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core.models import KitchenTicket, Order, OrderPayment, OrderRound
from modules.pos_core.table_service import flows, store
from modules.pos_core.tests.conftest import available, make_catalog
from modules.restaurant import api as restaurant
from ops.reconcile import reconcile
from pos.events import relay
from pos.tenancy import all_tenants

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres,
              pytest.mark.usefixtures("postgres_only")]

_keys = itertools.count(1)
OWNERS = {"inventory": inventory, "payment": payment, "store": store}


@pytest.fixture(autouse=True)
def _events_in_process(settings):
    settings.EVENTS_IN_PROCESS = True
    yield
    for connection in connections.all():
        connection.close_if_unusable_or_obsolete()


class Died(BaseException):
    """The process died here: nothing after it runs."""


def strike(monkeypatch, where: str, call: str, effect) -> None:
    """Run `effect` once, `before` or `after` the call `owner.name` (e.g. "inventory.reserve_stock")."""
    owner_name, name = call.split(".")
    owner = OWNERS[owner_name]
    real = getattr(owner, name)
    fired: list[bool] = []

    @functools.wraps(real)
    def wrapped(*args, **kwargs):
        if where == "before" and not fired:
            fired.append(True)
            effect(call)
        result = real(*args, **kwargs)
        if where == "after" and not fired:
            fired.append(True)
            effect(call)
        return result

    monkeypatch.setattr(owner, name, wrapped)


@pytest.fixture
def waiter(tenant):
    make_catalog(tenant.id)
    return make_terminal_client(tenant, "manager")


def post(client, path, body, key=None):
    return client.post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key or f"cf-{next(_keys)}")


def open_check(tenant, waiter, items=None) -> dict:
    table = restaurant.create_table(tenant_id=tenant.id, code=f"F{next(_keys)}")
    body = {"service": "table", "table_id": str(table.id)}
    if items:
        body["items"] = items
    response = post(waiter, "orders", body)
    assert response.status_code == 201, response.json()
    return response.json()


def check(order_id) -> Order:
    with all_tenants():
        return Order.objects.get(pk=order_id)


def quantities(order_id) -> list[int]:
    with all_tenants():
        return [item.quantity for item in Order.objects.get(pk=order_id).items.all()]


def recover_all() -> None:
    for _ in range(5):
        summary = flows.recover(older_than=timedelta(seconds=-1))
        if not summary["still_pending"] and not any(summary[k] for k in ("rounds", "voids", "payments", "released")):
            return
    raise AssertionError(f"table-service work still unfinished after five sweeps: {summary}")


def net_captured(tenant) -> int:
    with all_tenants():
        keys = [row.charge_key for row in OrderPayment.objects.all()]
    found = [payment.find_payment(tenant_id=tenant.id, idempotency_key=key) for key in keys]
    return sum(info.captured.amount - info.refunded.amount for info in found if info is not None)


def assert_agree(tenant) -> None:
    with all_tenants():
        assert not OrderPayment.objects.filter(status="pending").exists()
        assert not OrderRound.objects.filter(status="pending").exists()
        paid = sum(row.captured for row in OrderPayment.objects.filter(status="captured"))
    assert net_captured(tenant) == paid  # every capture is on a check, every given-up tender net zero
    relay.drain(now=timezone.now() + timedelta(hours=1))  # deliveries a lost connection failed, retried
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()


# --- rounds ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "inventory.reserve_stock", "pos_core"), ("before", "inventory.reserve_stock", "inventory"),
    ("before", "store.round_record", "pos_core")])
@pytest.mark.parametrize("finish", ["retry", "recover"])
def test_a_round_cut_off_is_sent_once(tenant, waiter, monkeypatch, where, call, alias, finish):
    opened = open_check(tenant, waiter)
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    body = {"items": [{"product_id": "mohinga", "quantity": 2}], "version": opened["version"]}
    answer = post(waiter, f"orders/{opened['id']}/items", body, key="round-1")
    assert answer.status_code == 503 and answer.json()["type"].endswith("/check-outcome-unknown"), answer.json()
    monkeypatch.undo()
    if finish == "retry":
        again = post(waiter, f"orders/{opened['id']}/items", body, key="round-1")
        assert again.status_code == 201, again.json()
    else:
        recover_all()
    with all_tenants():
        assert OrderRound.objects.filter(status="sent").count() == 1 and KitchenTicket.objects.count() == 1
    assert quantities(opened["id"]) == [2]
    assert available(tenant.id, "mohinga") == 8
    assert_agree(tenant)


# --- voids ----------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "inventory.reduce_reservation", "pos_core"), ("before", "inventory.reduce_reservation", "inventory"),
    ("before", "store.void_record", "pos_core")])
def test_a_void_cut_off_gives_the_stock_back_once(tenant, waiter, monkeypatch, where, call, alias):
    opened = open_check(tenant, waiter, [{"product_id": "mohinga", "quantity": 2}])
    item = opened["items"][0]
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    body = {"reason": "wrong table", "made": False, "quantity": 1}
    answer = post(waiter, f"orders/{opened['id']}/items/{item['id']}/void", body, key="void-1")
    assert answer.status_code == 503, answer.json()
    monkeypatch.undo()
    assert post(waiter, f"orders/{opened['id']}/items/{item['id']}/void", body, key="void-1").status_code == 200
    assert quantities(opened["id"]) == [1] and available(tenant.id, "mohinga") == 9
    with all_tenants():
        assert KitchenTicket.objects.filter(kind="void").count() == 1
    assert_agree(tenant)


# --- payments -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "payment.charge", "pos_core"), ("before", "payment.charge", "payment"),
    ("before", "store.payment_captured", "pos_core")])
@pytest.mark.parametrize("finish", ["retry", "recover"])
def test_a_payment_cut_off_is_taken_once_or_given_back(tenant, waiter, monkeypatch, where, call, alias, finish):
    opened = open_check(tenant, waiter, [{"product_id": "mohinga", "quantity": 2}])
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    body = {"method": "card", "amount": 6000, "tip": 500}
    answer = post(waiter, f"orders/{opened['id']}/payments", body, key="pay-1")
    assert answer.status_code == 503, answer.json()
    monkeypatch.undo()
    if finish == "retry":
        again = post(waiter, f"orders/{opened['id']}/payments", body, key="pay-1")
        assert again.status_code == 201 and again.json()["order"]["status"] == "completed", again.json()
        assert net_captured(tenant) == 6500 and available(tenant.id, "mohinga") == 8
    else:
        recover_all()  # the till never heard: given back (or never taken), the amount due again
        order = check(opened["id"])
        assert (order.status, order.paid, order.pending) == ("open", 0, 0) and net_captured(tenant) == 0
        later = post(waiter, f"orders/{opened['id']}/payments", body, key="pay-1")
        assert later.status_code in (402, 409), later.json()  # that tender is over; the same key says so
        assert post(waiter, f"orders/{opened['id']}/payments", body, key="pay-2").status_code == 201
    assert check(opened["id"]).status == "completed"
    assert_agree(tenant)


@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "inventory.commit_reservation", "pos_core"), ("before", "inventory.commit_reservation", "inventory"),
    ("before", "store.order_complete", "pos_core")])
def test_completion_cut_off_sells_the_stock_once(tenant, waiter, monkeypatch, where, call, alias):
    opened = open_check(tenant, waiter, [{"product_id": "mohinga", "quantity": 2}])
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    answer = post(waiter, f"orders/{opened['id']}/payments", {"method": "card", "amount": 6000}, key="pay-1")
    assert answer.status_code == 503, answer.json()
    monkeypatch.undo()
    assert check(opened["id"]).paid == 6000  # the capture is on the check before anything else
    recover_all()
    assert check(opened["id"]).status == "completed"
    levels = inventory.get_stock_levels(tenant_id=tenant.id, items=[("mohinga", None)])[("mohinga", None)]
    assert (levels.on_hand, levels.available) == (8, 8)
    again = post(waiter, f"orders/{opened['id']}/payments", {"method": "card", "amount": 6000}, key="pay-1")
    assert again.status_code == 201 and net_captured(tenant) == 6000
    assert_agree(tenant)


# --- compensation and cancelling ------------------------------------------------------------------------------

@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "payment.find_payment", "pos_core"), ("before", "payment.refund", "payment"),
    ("after", "payment.refund", "pos_core")])
def test_giving_back_a_payment_cut_off_refunds_it_once(tenant, waiter, monkeypatch, where, call, alias):
    opened = open_check(tenant, waiter, [{"product_id": "mohinga", "quantity": 2}])

    def die(_call):
        raise Died(_call)

    strike(monkeypatch, "after", "payment.charge", die)  # captured, then the process died before recording it
    with pytest.raises(Died):
        flows.pay(tenant_id=tenant.id, order_id=opened["id"], idempotency_key="pay-1",
                  data={"method": "card", "amount": 6000})
    monkeypatch.undo()
    assert net_captured(tenant) == 6000
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    flows.recover(older_than=timedelta(seconds=-1))  # cut off somewhere in the middle of giving it back
    monkeypatch.undo()
    recover_all()
    with all_tenants():
        assert OrderPayment.objects.get().status == "refunded"
    assert net_captured(tenant) == 0 and check(opened["id"]).pending == 0
    assert_agree(tenant)


@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "inventory.release_reservation", "pos_core"), ("before", "inventory.release_reservation", "inventory"),
    ("before", "store.round_released", "pos_core")])
def test_cancelling_a_check_cut_off_releases_its_stock_once(tenant, waiter, monkeypatch, where, call, alias):
    opened = open_check(tenant, waiter, [{"product_id": "mohinga", "quantity": 2}])
    strike(monkeypatch, where, call, terminate_own_backend(alias))
    with pytest.raises(Exception):  # noqa: B017 - a lost connection, whatever the driver calls it
        flows.cancel_check(tenant_id=tenant.id, order_id=opened["id"])
    monkeypatch.undo()
    assert check(opened["id"]).status == "cancelled"
    recover_all()
    assert available(tenant.id, "mohinga") == 10
    assert [r.status for r in inventory.list_reservations(tenant_id=tenant.id)] == ["released"]
    assert_agree(tenant)
