"""Terminal API: read payments and methods, refund with an Idempotency-Key; problem responses; tenant isolation."""

from __future__ import annotations

import uuid

import pytest
from django.db import connections

from conftest import make_tenant, make_terminal_client
from modules.payment import api as payment
from modules.payment.tests.conftest import ledger, mmk, refunded_at_provider

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def paid(tenant):
    return payment.charge(tenant_id=tenant.id, amount=mmk(10_000), method="card", idempotency_key="order-1",
                          reference="order-1")


def post_refund(client, payment_id, body, key="r1"):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(f"/api/v1/payments/{payment_id}/refunds", body, format="json", **headers)


def test_get_payment_shows_money_explicitly(api, tenant):
    cash = payment.charge(tenant_id=tenant.id, amount=mmk(12_320), method="cash", idempotency_key="k",
                          tendered=mmk(20_000))
    response = api.get(f"/api/v1/payments/{cash.id}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "captured"
    assert body["amount"] == {"amount": 12_320, "currency": "MMK"}
    assert body["rounding_adjustment"] == {"amount": -20, "currency": "MMK"}
    assert body["captured"] == {"amount": 12_300, "currency": "MMK"}
    assert body["change_due"] == {"amount": 7_700, "currency": "MMK"}
    assert body["refunds"] == []


def test_refund_endpoint_refunds_once_per_key(api, tenant, paid):
    response = post_refund(api, paid.id, {"amount": 4_000, "reason": "cold soup"})
    assert response.status_code == 201, response.json()
    assert response.json()["amount"] == {"amount": 4_000, "currency": "MMK"}
    replay = post_refund(api, paid.id, {"amount": 4_000, "reason": "cold soup"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == response.json()["id"]
    assert refunded_at_provider() == 4_000
    detail = api.get(f"/api/v1/payments/{paid.id}").json()
    assert detail["status"] == "partially_refunded" and detail["refundable"]["amount"] == 6_000
    assert [r["id"] for r in detail["refunds"]] == [response.json()["id"]]
    listed = api.get(f"/api/v1/payments/{paid.id}/refunds")
    assert [r["reason"] for r in listed.json()] == ["cold soup"]


def test_over_refund_is_a_422_problem_with_what_is_left(api, paid):
    assert post_refund(api, paid.id, {"amount": 7_000, "reason": "a"}, key="r1").status_code == 201
    response = post_refund(api, paid.id, {"amount": 3_001, "reason": "b"}, key="r2")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/over-refund") and response.json()["refundable"] == 3_000
    assert refunded_at_provider() == 7_000


@pytest.mark.parametrize(("body", "status", "type_"), [
    ({"amount": 0, "reason": "x"}, 400, "invalid-amount"),
    ({"amount": -5, "reason": "x"}, 400, "invalid-amount"),
    ({"amount": 10.5, "reason": "x"}, 400, "invalid-input"),
    ({"amount": 100.0, "reason": "x"}, 400, "invalid-input"),
    ({"amount": "100", "reason": "x"}, 400, "invalid-input"),
    ({"amount": True, "reason": "x"}, 400, "invalid-input"),
    ({"amount": 100, "currency": "USD", "reason": "x"}, 400, "invalid-amount"),
    ({"amount": 100, "currency": "usd", "reason": "x"}, 400, "invalid-input"),
    ({"amount": 100}, 400, "invalid-input"),
    ({"amount": 10**16, "reason": "x"}, 400, "invalid-input"),
])
def test_bad_refund_requests_are_problems_and_change_nothing(api, paid, nothing_written, body, status, type_):
    response = post_refund(api, paid.id, body)
    assert response.status_code == status, response.json()
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + type_)


def test_refund_without_idempotency_key_is_refused(api, paid, nothing_written):
    response = post_refund(api, paid.id, {"amount": 100, "reason": "x"}, key=None)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/idempotency-key-required")


def test_declined_payment_refund_is_a_409(api, tenant):
    from modules.payment.gateways import simulate

    with simulate("decline"), pytest.raises(payment.PaymentDeclined) as caught:
        payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="card", idempotency_key="k")
    response = post_refund(api, caught.value.extra["payment_id"], {"amount": 100, "reason": "x"})
    assert response.status_code == 409 and response.json()["type"].endswith("/not-refundable")
    assert ledger("refund") == []


def test_waiters_cannot_refund(tenant, paid, nothing_written):
    waiter = make_terminal_client(tenant, "waiter")
    assert post_refund(waiter, paid.id, {"amount": 100, "reason": "x"}).status_code == 403
    assert waiter.get(f"/api/v1/payments/{paid.id}").status_code == 403  # payments are for cashiers and managers


def test_list_is_paginated_filtered_and_has_no_n_plus_one(api, tenant, django_assert_max_num_queries):
    for i in range(6):
        payment.charge(tenant_id=tenant.id, amount=mmk(1_000 + i), method="card" if i % 2 else "cash",
                       idempotency_key=f"k{i}", reference=f"order-{i}")
    with django_assert_max_num_queries(2, connection=connections["payment"]):
        response = api.get("/api/v1/payments?limit=4")
    body = response.json()
    assert body["count"] == 6 and len(body["results"]) == 4 and body["next"]
    assert [p["amount"]["amount"] for p in body["results"]] == [1_005, 1_004, 1_003, 1_002]
    assert api.get("/api/v1/payments?method=card").json()["count"] == 3
    assert api.get("/api/v1/payments?status=captured&reference=order-2").json()["results"][0]["reference"] == "order-2"
    assert api.get("/api/v1/payments?status=bogus").status_code == 400


def test_methods_are_the_tenants_accepted_ones(tenant):
    shop = make_tenant(payment_methods=["cash", "wavepay"], cash_rounding_unit=100)
    body = make_terminal_client(shop).get("/api/v1/payments/methods").json()
    assert body == {"methods": ["cash", "wavepay"], "currency": "MMK", "cash_rounding_unit": 100}


def test_unauthenticated_requests_are_refused(paid):
    from rest_framework.test import APIClient

    anonymous = APIClient()
    assert anonymous.get(f"/api/v1/payments/{paid.id}").status_code == 401
    assert anonymous.get("/api/v1/payments").status_code == 401
    assert post_refund(anonymous, paid.id, {"amount": 100, "reason": "x"}).status_code == 401


# --- tenant isolation: another tenant's terminal gets 404, never data, and writes nothing -----------------------

def test_other_tenant_cannot_read_a_payment(other_api, paid):
    response = other_api.get(f"/api/v1/payments/{paid.id}")
    assert response.status_code == 404
    assert "order-1" not in response.content.decode()


def test_other_tenant_cannot_list_refunds_of_a_payment(other_api, paid):
    payment.refund(tenant_id=paid_tenant(paid), payment_id=paid.id, amount=mmk(100), idempotency_key="r",
                   reason="secret reason")
    response = other_api.get(f"/api/v1/payments/{paid.id}/refunds")
    assert response.status_code == 404
    assert "secret reason" not in response.content.decode()


def test_other_tenant_cannot_refund_a_payment(other_api, paid, nothing_written):
    response = post_refund(other_api, paid.id, {"amount": 100, "reason": "x"})
    assert response.status_code == 404
    assert response.json()["type"].endswith("/payment-not-found")


def test_other_tenant_list_shows_only_its_own(other_api, other_tenant, paid):
    theirs = payment.charge(tenant_id=other_tenant.id, amount=mmk(2_000), method="cash", idempotency_key="order-1")
    body = other_api.get("/api/v1/payments").json()
    assert [p["id"] for p in body["results"]] == [theirs.id]


def test_other_tenant_methods_are_its_own(other_api, other_tenant):
    assert other_api.get("/api/v1/payments/methods").json()["methods"] == list(other_tenant.payment_methods)


def test_unknown_payment_is_404(api):
    assert api.get(f"/api/v1/payments/{uuid.uuid4()}").status_code == 404
    assert api.get("/api/v1/payments/not-a-uuid").status_code == 404


def paid_tenant(info) -> uuid.UUID:
    from modules.payment.models import Payment
    from pos.tenancy import all_tenants

    with all_tenants():
        return Payment.objects.using("payment").get(pk=info.id).tenant_id
