"""Admin: managers see their tenant's payments read-only and refund through the same service."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client

from modules.accounts import api as accounts
from modules.payment import api as payment
from modules.payment.models import ProviderBehaviour
from modules.payment.tests.conftest import events, mmk, refunded_at_provider
from pos.operators import OPERATORS_GROUP
from pos.tenancy import tenant_context

pytestmark = pytest.mark.django_db(databases="__all__")
CHANGELIST = "/admin/payment/payment/"


def manager_client(tenant, username) -> Client:
    accounts.create_manager(tenant_id=tenant.id, username=username, password="pw-123456!")
    client = Client()
    assert client.login(username=username, password="pw-123456!")
    return client


@pytest.fixture
def paid(tenant):
    return payment.charge(tenant_id=tenant.id, amount=mmk(10_000), method="card", idempotency_key="order-1",
                          reference="order-42")


def test_manager_sees_own_payments_read_only(tenant, other_tenant, paid):
    theirs = payment.charge(tenant_id=other_tenant.id, amount=mmk(3_000), method="card", idempotency_key="x",
                            reference="their-order")
    client = manager_client(tenant, "boss")
    page = client.get(CHANGELIST)
    assert page.status_code == 200
    assert "order-42" in page.content.decode() and "their-order" not in page.content.decode()
    assert client.get(f"{CHANGELIST}{paid.id}/change/").status_code == 200
    assert client.get(f"{CHANGELIST}{theirs.id}/change/").status_code in (302, 404)
    assert client.get(f"{CHANGELIST}add/").status_code == 403
    response = client.post(f"{CHANGELIST}{paid.id}/change/", {"status": "refunded"})
    assert response.status_code == 403
    assert payment.get_payment(tenant_id=tenant.id, payment_id=paid.id).status == "captured"


def test_refund_action_shows_a_form_then_refunds_once_through_the_service(tenant, paid):
    client = manager_client(tenant, "boss")
    form = client.post(CHANGELIST, {"action": "refund", "_selected_action": [paid.id]})
    assert form.status_code == 200
    html = form.content.decode()
    assert "10,000 MMK" in html and 'name="reason"' in html
    key = form.context["form"].initial["key"]
    submit = {"action": "refund", "_selected_action": [paid.id], "apply": "Refund", "amount": 2_500,
              "reason": "wrong dish", "key": key}
    assert client.post(CHANGELIST, submit).status_code == 302
    assert client.post(CHANGELIST, submit).status_code == 302  # a double submit refunds once
    info = payment.get_payment(tenant_id=tenant.id, payment_id=paid.id)
    assert info.refunded == mmk(2_500)
    assert refunded_at_provider() == 2_500
    (refund,) = payment.get_refunds(tenant_id=tenant.id, payment_id=paid.id)
    assert refund.reason == "wrong dish"
    assert len(events("payment.refunded")) == 1


def test_refund_action_over_the_cap_is_refused_with_a_message(tenant, paid):
    client = manager_client(tenant, "boss")
    response = client.post(CHANGELIST, {"action": "refund", "_selected_action": [paid.id], "apply": "Refund",
                                        "amount": 10_001, "reason": "too much", "key": "admin-k"}, follow=True)
    assert "Refund refused" in response.content.decode()
    assert refunded_at_provider() == 0


def test_refund_admin_lists_only_own_tenant(tenant, other_tenant, paid):
    payment.refund(tenant_id=tenant.id, payment_id=paid.id, amount=mmk(100), idempotency_key="r", reason="mine")
    theirs = payment.charge(tenant_id=other_tenant.id, amount=mmk(3_000), method="card", idempotency_key="x")
    payment.refund(tenant_id=other_tenant.id, payment_id=theirs.id, amount=mmk(100), idempotency_key="r",
                   reason="theirs")
    html = manager_client(tenant, "boss").get("/admin/payment/refund/").content.decode()
    assert "mine" in html and "theirs" not in html


def operator_client(tenant, username) -> Client:
    """A restaurant's staff user in the Operators group (operators run the system, managers the restaurant)."""
    client = manager_client(tenant, username)
    get_user_model().objects.get(username=username).groups.add(Group.objects.get_or_create(name=OPERATORS_GROUP)[0])
    return client


def test_managers_never_see_the_simulator_controls(tenant):
    client = manager_client(tenant, "boss")
    assert client.get("/admin/payment/providerbehaviour/").status_code == 403
    response = client.post("/admin/payment/providerbehaviour/add/", {
        "method": "card", "charge_behaviour": "decline", "refund_behaviour": "approve", "lookup_behaviour": "answer",
        "delay_ms": 100})
    assert response.status_code == 403
    assert "providerbehaviour" not in client.get("/admin/").content.decode()
    with tenant_context(tenant.id):
        assert not ProviderBehaviour.objects.using("payment").exists()


def test_an_operator_configures_the_simulator_for_a_tenant(tenant):
    client = operator_client(tenant, "ops")
    response = client.post("/admin/payment/providerbehaviour/add/", {
        "method": "card", "charge_behaviour": "decline", "refund_behaviour": "approve", "lookup_behaviour": "answer",
        "delay_ms": 100})
    assert response.status_code == 302
    with tenant_context(tenant.id):
        assert ProviderBehaviour.objects.using("payment").get().charge_behaviour == "decline"
    with pytest.raises(payment.PaymentDeclined):
        payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="card", idempotency_key="k")


def test_provider_ledger_is_for_operators_only(tenant, paid):
    assert manager_client(tenant, "boss").get("/admin/payment/simulatedproviderentry/").status_code == 403
