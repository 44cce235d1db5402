"""A table payment whose answer is not known (the provider lost it): the check keeps the amount held, recovery waits
until payment knows the charge's fate and then gives it back; a capture that arrives after the check gave the
tender up is refunded once. Never money taken without the check knowing."""

from __future__ import annotations

from datetime import timedelta

import pytest

from conftest import make_terminal_client
from modules.payment import api as payment
from modules.payment.models import ProviderBehaviour
from modules.payment.services import payment_resolve_pending
from modules.pos_core.models import Order, OrderPayment
from modules.pos_core.table_service import flows
from modules.pos_core.tests.conftest import make_catalog
from modules.pos_core.tests.test_table_service import open_check, post
from modules.restaurant import api as restaurant
from ops.reconcile import reconcile
from pos.tenancy import all_tenants, tenant_context

# Committed transactions: payment.captured reaches pos_core after payment's commit, as in production.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def _events_in_process(settings):
    settings.EVENTS_IN_PROCESS = True


@pytest.fixture
def check(tenant):
    make_catalog(tenant.id)
    waiter = make_terminal_client(tenant, "manager")
    opened = open_check(waiter, restaurant.create_table(tenant_id=tenant.id, code="A1"),
                        [{"product_id": "mohinga", "quantity": 2}])
    with tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, charge_behaviour="lost", lookup_behaviour="unavailable")
    answer = post(waiter, f"orders/{opened['id']}/payments", {"method": "card", "amount": 6000}, key="pay-1")
    assert answer.status_code == 503 and answer.json()["type"].endswith("/payment-unavailable"), answer.json()
    return {"id": opened["id"], "waiter": waiter}


def the_tender() -> OrderPayment:
    with all_tenants():
        return OrderPayment.objects.get()


def the_check(order_id) -> Order:
    with all_tenants():
        return Order.objects.get(pk=order_id)


def net_captured(tenant) -> int:
    info = payment.find_payment(tenant_id=tenant.id, idempotency_key=the_tender().charge_key)
    return 0 if info is None else info.captured.amount - info.refunded.amount


def test_an_unknown_charge_stays_held_until_known_then_is_given_back(tenant, check):
    flows.recover(older_than=timedelta(seconds=-1))
    assert the_tender().status == "pending" and the_check(check["id"]).pending == 6000  # not known: kept held
    with all_tenants():
        ProviderBehaviour.objects.all().delete()  # the provider answers again: the charge went through
    payment_resolve_pending(older_than_seconds=0)
    assert net_captured(tenant) == 6000 and the_tender().status == "pending"
    flows.recover(older_than=timedelta(seconds=-1))  # the till never heard: given back, the amount due again
    assert the_tender().status == "refunded" and net_captured(tenant) == 0
    order = the_check(check["id"])
    assert (order.status, order.paid, order.pending) == ("open", 0, 0)
    again = post(check["waiter"], f"orders/{check['id']}/payments", {"method": "card", "amount": 6000}, key="pay-1")
    assert again.status_code == 409 and again.json()["type"].endswith("/payment-refunded")  # the same final answer
    paid = post(check["waiter"], f"orders/{check['id']}/payments", {"method": "card", "amount": 6000}, key="pay-2")
    assert paid.status_code == 201 and paid.json()["order"]["status"] == "completed"
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()


def test_a_retry_once_the_charge_is_known_records_it(tenant, check):
    with all_tenants():
        ProviderBehaviour.objects.all().delete()
    again = post(check["waiter"], f"orders/{check['id']}/payments", {"method": "card", "amount": 6000}, key="pay-1")
    assert again.status_code == 201 and again.json()["order"]["status"] == "completed", again.json()
    assert net_captured(tenant) == 6000 and the_check(check["id"]).paid == 6000
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()


def test_a_capture_arriving_after_the_check_gave_the_tender_up_is_refunded_once(tenant, check, monkeypatch):
    # recovery looked the charge up before payment had recorded it (a request still on its way), and gave the
    # tender up as never taken
    monkeypatch.setattr(payment, "find_payment", lambda **kwargs: None)
    flows.recover(older_than=timedelta(seconds=-1))
    monkeypatch.undo()
    assert the_tender().status == "declined" and the_check(check["id"]).pending == 0
    with all_tenants():
        ProviderBehaviour.objects.all().delete()
    payment_resolve_pending(older_than_seconds=0)  # captured after all: payment.captured reaches pos_core
    payment_resolve_pending(older_than_seconds=0)  # and again: nothing more happens
    assert net_captured(tenant) == 0  # refunded once, by the tender's refund key
    info = payment.find_payment(tenant_id=tenant.id, idempotency_key=the_tender().charge_key)
    assert [r.amount.amount for r in payment.get_refunds(tenant_id=tenant.id, payment_id=info.id)] == [6000]
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()
