"""Refunds: partial and full, several per payment, capped at what was captured, idempotent by key, with the
provider's ledger as the witness."""

from __future__ import annotations

import pytest

from modules.payment import api as payment
from modules.payment.gateways import simulate
from modules.payment.models import Payment
from modules.payment.tasks import resolve_pending
from modules.payment.tests.conftest import captured_at_provider, events, ledger, mmk, refunded_at_provider
from pos.money import Money
from pos.tenancy import tenant_context

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def card_payment(tenant):
    return payment.charge(tenant_id=tenant.id, amount=mmk(10_000), method="card", idempotency_key="order-1",
                          reference="order-1")


def refund(tenant, payment_id, amount, key, reason="returned dish"):
    return payment.refund(tenant_id=tenant.id, payment_id=payment_id, amount=mmk(amount), idempotency_key=key,
                          reason=reason)


def test_partial_refunds_add_up_to_a_full_refund(tenant, card_payment):
    first = refund(tenant, card_payment.id, 3_000, "r1")
    assert (first.status, first.amount, first.payment_id) == ("succeeded", mmk(3_000), card_payment.id)
    after_first = payment.get_payment(tenant_id=tenant.id, payment_id=card_payment.id)
    assert (after_first.status, after_first.refunded, after_first.refundable) == (
        "partially_refunded", mmk(3_000), mmk(7_000))
    refund(tenant, card_payment.id, 7_000, "r2")
    done = payment.get_payment(tenant_id=tenant.id, payment_id=card_payment.id)
    assert (done.status, done.refunded, done.refundable) == ("refunded", mmk(10_000), mmk(0))
    assert done.version > after_first.version
    assert refunded_at_provider() == 10_000 == captured_at_provider()
    assert [(e["amount"], e["total_refunded"], e["reference"]) for e in events("payment.refunded")] == [
        (3_000, 3_000, "order-1"), (7_000, 10_000, "order-1")]
    assert [r.id for r in payment.get_refunds(tenant_id=tenant.id, payment_id=card_payment.id)] == [
        first.id, payment.get_refunds(tenant_id=tenant.id, payment_id=card_payment.id)[1].id]


def test_over_refund_is_refused_and_reports_what_is_left(tenant, card_payment):
    refund(tenant, card_payment.id, 6_000, "r1")
    with pytest.raises(payment.OverRefund) as caught:
        refund(tenant, card_payment.id, 4_001, "r2")
    assert caught.value.status == 422
    assert caught.value.extra["refundable"] == 4_000
    refund(tenant, card_payment.id, 4_000, "r3")
    with pytest.raises(payment.OverRefund) as again:
        refund(tenant, card_payment.id, 1, "r4")
    assert again.value.extra["refundable"] == 0
    assert refunded_at_provider() == 10_000
    assert len(ledger("refund")) == 2


def test_same_refund_key_refunds_once(tenant, card_payment):
    first = refund(tenant, card_payment.id, 2_000, "r1")
    assert refund(tenant, card_payment.id, 2_000, "r1") == first
    with pytest.raises(payment.IdempotencyConflict):
        refund(tenant, card_payment.id, 2_500, "r1")
    assert refunded_at_provider() == 2_000
    assert len(events("payment.refunded")) == 1


@pytest.mark.parametrize(("amount", "error"), [
    (mmk(0), payment.InvalidAmount), (mmk(-100), payment.InvalidAmount),
    (Money(100, "USD"), payment.InvalidAmount), (100, payment.InvalidAmount), (mmk(10_001), payment.OverRefund),
])
def test_bad_refund_amounts_write_and_refund_nothing(tenant, card_payment, nothing_written, amount, error):
    with pytest.raises(error):
        payment.refund(tenant_id=tenant.id, payment_id=card_payment.id, amount=amount, idempotency_key="r",
                       reason="x")


def test_refund_needs_a_key_a_reason_and_a_known_payment(tenant, other_tenant, card_payment, nothing_written):
    with pytest.raises(payment.IdempotencyKeyRequired):
        refund(tenant, card_payment.id, 100, "")
    with pytest.raises(payment.InvalidAmount):
        refund(tenant, card_payment.id, 100, "r", reason="  ")
    with pytest.raises(payment.PaymentNotFound):
        refund(tenant, "not-a-uuid", 100, "r")
    with pytest.raises(payment.PaymentNotFound):  # another tenant's payment does not exist for them
        refund(other_tenant, card_payment.id, 100, "r")


@pytest.mark.parametrize("behaviour", ["decline", "error"])
def test_declined_or_failed_payments_are_not_refundable(tenant, behaviour):
    with simulate(behaviour), pytest.raises(payment.PaymentDeclined) as caught:
        payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="wavepay", idempotency_key="k")
    with pytest.raises(payment.NotRefundable) as refused:
        refund(tenant, caught.value.extra["payment_id"], 100, "r")
    assert refused.value.status == 409
    assert ledger("refund") == []


def test_pending_payments_are_not_refundable(tenant, settings):
    with simulate("lost", lookup="unavailable"), pytest.raises(payment.PaymentAmbiguous) as caught:
        payment.charge(tenant_id=tenant.id, amount=mmk(1_000), method="wavepay", idempotency_key="k")
    with pytest.raises(payment.NotRefundable):
        refund(tenant, caught.value.extra["payment_id"], 100, "r")


def test_cash_refund_is_capped_at_the_rounded_capture(tenant):
    cash = payment.charge(tenant_id=tenant.id, amount=mmk(12_330), method="cash", idempotency_key="k")
    assert cash.captured == mmk(12_350)
    with pytest.raises(payment.OverRefund):
        refund(tenant, cash.id, 12_351, "r1")
    assert refund(tenant, cash.id, 12_350, "r2").status == "succeeded"
    assert payment.get_payment(tenant_id=tenant.id, payment_id=cash.id).status == "refunded"


def test_provider_refund_error_releases_the_reservation(tenant, card_payment):
    with simulate(refund="error"), pytest.raises(payment.RefundFailed):
        refund(tenant, card_payment.id, 10_000, "r1")
    assert refunded_at_provider() == 0
    info = payment.get_payment(tenant_id=tenant.id, payment_id=card_payment.id)
    assert (info.status, info.refundable) == ("captured", mmk(10_000))
    assert refund(tenant, card_payment.id, 10_000, "r2").status == "succeeded"
    assert events("payment.refunded")[0]["amount"] == 10_000


@pytest.mark.parametrize("behaviour", ["timeout", "lost"])
def test_refund_with_lost_answer_is_resolved_by_lookup_and_refunded_once(tenant, card_payment, behaviour):
    with simulate(refund=behaviour):
        done = refund(tenant, card_payment.id, 4_000, "r1")
        assert done.status == "succeeded"
        assert refund(tenant, card_payment.id, 4_000, "r1") == done
    (entry,) = ledger("refund")
    assert entry.amount == 4_000 and entry.calls == 1


def test_refund_with_unknown_outcome_stays_reserved_until_the_task_resolves_it(tenant, card_payment, settings):
    settings.PAYMENT_PENDING_GRACE_SECONDS = 0
    with simulate(refund="lost", lookup="unavailable"):
        with pytest.raises(payment.PaymentAmbiguous) as caught:
            refund(tenant, card_payment.id, 6_000, "r1")
        assert caught.value.extra["payment_id"] == card_payment.id
        # the pending refund holds its amount: a second refund cannot take it meanwhile
        with pytest.raises(payment.OverRefund) as over:
            refund(tenant, card_payment.id, 5_000, "r2")
        assert over.value.extra["refundable"] == 4_000
    assert resolve_pending()["refunds_settled"] == 1
    info = payment.get_payment(tenant_id=tenant.id, payment_id=card_payment.id)
    assert (info.status, info.refunded, info.refundable) == ("partially_refunded", mmk(6_000), mmk(4_000))
    assert refund(tenant, card_payment.id, 6_000, "r1").status == "succeeded"
    assert refunded_at_provider() == 6_000
    assert len(events("payment.refunded")) == 1


def test_the_database_refuses_refunds_beyond_the_capture_even_without_the_service(tenant, card_payment):
    from django.db import IntegrityError, transaction

    with tenant_context(tenant.id), pytest.raises(IntegrityError), transaction.atomic(using="payment"):
        Payment.objects.using("payment").filter(pk=card_payment.id).update(refunded_amount=10_001)


def test_the_simulated_provider_itself_refuses_refunds_beyond_its_charge(tenant, card_payment):
    from modules.payment.gateways import SimulatedProviderGateway

    gateway = SimulatedProviderGateway()
    charge_reference = card_payment.provider_reference
    first = gateway.refund(key="p1", tenant_id=tenant.id, method="card", charge_reference=charge_reference,
                           amount=mmk(9_000))
    assert first.outcome == "approved"
    over = gateway.refund(key="p2", tenant_id=tenant.id, method="card", charge_reference=charge_reference,
                          amount=mmk(1_001))
    assert (over.outcome, over.reason) == ("failed", "exceeds_charge")
    again = gateway.refund(key="p1", tenant_id=tenant.id, method="card", charge_reference=charge_reference,
                           amount=mmk(9_000))
    assert again == first  # same key: same answer, no second refund
    assert refunded_at_provider() == 9_000
