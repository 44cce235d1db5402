"""Concurrent refunds and retried charges on PostgreSQL: the sum refunded never exceeds the capture, and one
key is one capture at the provider, however many requests race."""

from __future__ import annotations

import pytest

from conftest import at_once
from modules.payment import api as payment
from modules.payment.tests.conftest import captured_at_provider, events, ledger, mmk, refunded_at_provider

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(databases="__all__", transaction=True),
              pytest.mark.usefixtures("postgres_only")]



def test_twenty_concurrent_refunds_never_exceed_the_capture(tenant):
    paid = payment.charge(tenant_id=tenant.id, amount=mmk(10_000), method="card", idempotency_key="order-1")
    results = at_once(20, lambda i: payment.refund(tenant_id=tenant.id, payment_id=paid.id, amount=mmk(700),
                                                   idempotency_key=f"refund-{i}", reason="race"))
    succeeded = [r for r in results if isinstance(r, payment.RefundInfo)]
    refused = [r for r in results if isinstance(r, payment.OverRefund)]
    assert len(succeeded) == 14 and len(refused) == 6, results
    info = payment.get_payment(tenant_id=tenant.id, payment_id=paid.id)
    assert info.refunded == mmk(9_800) and info.refundable == mmk(200)
    assert refunded_at_provider() == 9_800 <= captured_at_provider() == 10_000
    assert len(events("payment.refunded")) == 14


def test_concurrent_full_refunds_with_the_same_key_refund_once(tenant):
    paid = payment.charge(tenant_id=tenant.id, amount=mmk(10_000), method="kbzpay", idempotency_key="order-1")
    results = at_once(10, lambda i: payment.refund(tenant_id=tenant.id, payment_id=paid.id, amount=mmk(10_000),
                                                   idempotency_key="one-refund", reason="race"))
    ids = {r.id for r in results if isinstance(r, payment.RefundInfo)}
    assert len(ids) == 1
    assert all(isinstance(r, (payment.RefundInfo, payment.PaymentAmbiguous)) for r in results), results
    assert refunded_at_provider() == 10_000
    assert len(ledger("refund")) == 1


def test_concurrent_charges_with_one_key_capture_once(tenant):
    results = at_once(12, lambda i: payment.charge(tenant_id=tenant.id, amount=mmk(5_000), method="card",
                                                   idempotency_key="order-9"))
    ids = {r.id for r in results if isinstance(r, payment.PaymentInfo)}
    assert len(ids) == 1
    # a retry that arrives while the first call is at the provider is told to come back, never charged
    assert all(isinstance(r, (payment.PaymentInfo, payment.PaymentAmbiguous)) for r in results), results
    (entry,) = ledger("charge")
    assert entry.amount == 5_000
    assert len(events("payment.captured")) == 1
