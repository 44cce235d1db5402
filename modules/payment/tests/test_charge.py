"""Charging: cash rounding, tender and change, idempotency by key, bad input."""

from __future__ import annotations

import pytest

from conftest import make_tenant
from modules.payment import api as payment
from modules.payment.tests.conftest import events, ledger, mmk, payments_written
from pos.money import Money

pytestmark = pytest.mark.django_db(databases="__all__")


def test_cash_rounds_to_the_tenant_unit_and_records_the_adjustment(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_320), method="cash", idempotency_key="k1",
                          tendered=mmk(20_000), reference="order-1")
    assert info.status == "captured"
    assert info.amount == mmk(12_320)
    assert info.rounding_adjustment == mmk(-20)
    assert info.captured == mmk(12_300)
    assert info.change_due == mmk(7_700)
    assert info.tendered == mmk(20_000)
    assert info.refundable == mmk(12_300)
    assert events("payment.captured") == [{"payment_id": info.id, "amount": 12_300, "currency": "MMK",
                                           "method": "cash", "reference": "order-1"}]
    assert ledger() == []  # cash never reaches the provider


def test_cash_rounds_half_up_and_exact_cash_has_no_change(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_325), method="cash", idempotency_key="k1")
    assert info.captured == mmk(12_350)
    assert info.rounding_adjustment == mmk(25)
    assert info.change_due is None


def test_tenant_without_rounding_takes_cash_as_is():
    shop = make_tenant(cash_rounding_unit=1)
    info = payment.charge(tenant_id=shop.id, amount=mmk(12_321), method="cash", idempotency_key="k1",
                          tendered=mmk(12_321))
    assert (info.captured, info.rounding_adjustment, info.change_due) == (mmk(12_321), mmk(0), mmk(0))


def test_card_is_not_rounded_and_is_captured_once_at_the_provider(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_320), method="card", idempotency_key="k1")
    assert info.captured == mmk(12_320)
    assert info.rounding_adjustment == mmk(0)
    (entry,) = ledger()
    assert (entry.kind, entry.status, entry.amount, entry.reference) == ("charge", "captured", 12_320,
                                                                          info.provider_reference)


def test_same_key_returns_the_same_payment_and_never_charges_twice(tenant):
    first = payment.charge(tenant_id=tenant.id, amount=mmk(5_000), method="kbzpay", idempotency_key="order-7")
    for _ in range(3):
        again = payment.charge(tenant_id=tenant.id, amount=mmk(5_000), method="kbzpay", idempotency_key="order-7")
        assert again == first
    assert len(ledger("charge")) == 1
    assert payments_written() == 1
    assert len(events("payment.captured")) == 1


def test_key_reuse_with_different_amount_or_method_is_a_conflict(tenant):
    payment.charge(tenant_id=tenant.id, amount=mmk(5_000), method="card", idempotency_key="k")
    with pytest.raises(payment.IdempotencyConflict) as caught:
        payment.charge(tenant_id=tenant.id, amount=mmk(5_050), method="card", idempotency_key="k")
    assert caught.value.status == 422
    with pytest.raises(payment.IdempotencyConflict):
        payment.charge(tenant_id=tenant.id, amount=mmk(5_000), method="wavepay", idempotency_key="k")
    assert len(ledger()) == 1 and payments_written() == 1


def test_keys_are_per_tenant(tenant, other_tenant):
    mine = payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="card", idempotency_key="same")
    theirs = payment.charge(tenant_id=other_tenant.id, amount=mmk(1_000), method="card", idempotency_key="same")
    assert mine.id != theirs.id
    assert len(ledger("charge")) == 2


@pytest.mark.parametrize(("kwargs", "error"), [
    ({"amount": mmk(0)}, payment.InvalidAmount),
    ({"amount": mmk(-500)}, payment.InvalidAmount),
    ({"amount": 5_000}, payment.InvalidAmount),
    ({"amount": "5000"}, payment.InvalidAmount),
    ({"amount": Money(5_000, "USD")}, payment.InvalidAmount),
    ({"amount": mmk(10**13)}, payment.InvalidAmount),
    ({"method": "bitcoin"}, payment.MethodNotAccepted),
    ({"method": "wavepay", "tenant": "cash_only"}, payment.MethodNotAccepted),
    ({"idempotency_key": ""}, payment.IdempotencyKeyRequired),
    ({"idempotency_key": None}, payment.IdempotencyKeyRequired),
    ({"idempotency_key": "x" * 256}, payment.IdempotencyKeyRequired),
    ({"method": "cash", "tendered": mmk(4_000)}, payment.InsufficientTender),
    ({"method": "cash", "tendered": Money(50, "USD")}, payment.InvalidAmount),
    ({"method": "card", "tendered": mmk(10_000)}, payment.InvalidAmount),
    ({"method": "cash", "amount": mmk(20)}, payment.InvalidAmount),  # rounds to nothing at 50 MMK
])
def test_bad_input_is_refused_and_nothing_is_written_or_charged(tenant, nothing_written, kwargs, error):
    tenant_id = make_tenant(payment_methods=["cash"]).id if kwargs.pop("tenant", None) else tenant.id
    call = {"amount": mmk(5_000), "method": "card", "idempotency_key": "k", **kwargs}
    with pytest.raises(error) as caught:
        payment.charge(tenant_id=tenant_id, **call)
    assert 400 <= caught.value.status < 500
    assert caught.value.detail


def test_method_not_accepted_lists_what_is(tenant):
    shop = make_tenant(payment_methods=["cash", "kbzpay"])
    with pytest.raises(payment.MethodNotAccepted) as caught:
        payment.charge(tenant_id=shop.id, amount=mmk(1_000), method="card", idempotency_key="k")
    assert caught.value.extra["accepted"] == ["cash", "kbzpay"]
    assert payment.accepted_methods(tenant_id=shop.id) == ["cash", "kbzpay"]


def test_get_payment_and_get_payments_are_tenant_scoped(tenant, other_tenant):
    mine = payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="card", idempotency_key="a")
    theirs = payment.charge(tenant_id=other_tenant.id, amount=mmk(1_000), method="card", idempotency_key="a")
    assert payment.get_payment(tenant_id=tenant.id, payment_id=mine.id) == mine
    with pytest.raises(payment.PaymentNotFound):
        payment.get_payment(tenant_id=tenant.id, payment_id=theirs.id)
    with pytest.raises(payment.PaymentNotFound):
        payment.get_payment(tenant_id=tenant.id, payment_id="not-a-uuid")
    found = payment.get_payments(tenant_id=tenant.id, payment_ids=[mine.id, theirs.id, "junk"])
    assert found == {mine.id: mine}
