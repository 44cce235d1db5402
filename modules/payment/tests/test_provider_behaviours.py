"""Each behaviour of the simulated provider, asserted against the provider's own ledger: exactly one capture per
key whatever the retries; ambiguous outcomes resolved by lookup, never by charging again."""

from __future__ import annotations

import pytest

from modules.payment import api as payment
from modules.payment.gateways import simulate
from modules.payment.models import Payment, ProviderBehaviour
from modules.payment.tasks import resolve_pending
from modules.payment.tests.conftest import events, ledger, mmk
from pos.tenancy import tenant_context

pytestmark = pytest.mark.django_db(databases="__all__")


def charge(tenant, key="order-1", method="card", amount=5_000):
    return payment.charge(tenant_id=tenant.id, amount=mmk(amount), method=method, idempotency_key=key)


def stored(tenant, payment_id) -> Payment:
    with tenant_context(tenant.id):
        return Payment.objects.using("payment").get(pk=payment_id)


def test_approve_captures_once_and_retries_only_replay(tenant):
    with simulate("approve"):
        first = charge(tenant)
        retries = [charge(tenant) for _ in range(4)]
    assert all(r == first for r in retries)
    (entry,) = ledger("charge")
    assert entry.status == "captured" and entry.amount == 5_000 and entry.calls == 1


def test_decline_is_recorded_and_raised_again_on_retry_without_a_second_call(tenant):
    with simulate("decline"), pytest.raises(payment.PaymentDeclined) as caught:
        charge(tenant)
    payment_id = caught.value.extra["payment_id"]
    assert caught.value.status == 402
    with simulate("approve"), pytest.raises(payment.PaymentDeclined) as again:  # same key: same answer
        charge(tenant)
    assert again.value.extra["payment_id"] == payment_id
    (entry,) = ledger("charge")
    assert entry.status == "declined" and entry.calls == 1
    assert stored(tenant, payment_id).status == "declined"
    assert [e["payment_id"] for e in events("payment.declined")] == [payment_id]
    assert events("payment.captured") == []


def test_error_fails_the_payment_and_charges_nothing(tenant):
    with simulate("error"), pytest.raises(payment.PaymentFailed) as caught:
        charge(tenant)
    assert isinstance(caught.value, payment.PaymentDeclined)  # "not charged" for a caller catching declines
    assert ledger() == []
    assert stored(tenant, caught.value.extra["payment_id"]).status == "failed"
    assert [e["reason"] for e in events("payment.failed")] == ["provider_error"]
    with simulate("approve"), pytest.raises(payment.PaymentFailed):  # the key stays spent; a new try is a new key
        charge(tenant)
    assert ledger() == []
    assert charge(tenant, key="order-1-retry").status == "captured"


@pytest.mark.parametrize("behaviour", ["timeout", "lost"])
def test_charged_but_no_answer_is_resolved_by_lookup_not_by_charging_again(tenant, behaviour):
    with simulate(behaviour):
        info = charge(tenant)
        assert info.status == "captured"
        for _ in range(3):
            assert charge(tenant).id == info.id
    (entry,) = ledger("charge")
    assert entry.status == "captured" and entry.calls == 1
    assert info.provider_reference == entry.reference
    assert len(events("payment.captured")) == 1
    assert "answer" in stored(tenant, info.id).last_error or "connection" in stored(tenant, info.id).last_error


def test_dropped_request_is_looked_up_found_missing_and_failed_without_a_charge(tenant):
    with simulate("drop"), pytest.raises(payment.PaymentFailed) as caught:
        charge(tenant)
    assert caught.value.extra["reason"] == "not_received_by_provider"
    assert ledger() == []


def test_slow_provider_still_captures(tenant):
    with simulate("slow", delay_ms=30):
        assert charge(tenant).status == "captured"
    assert len(ledger("charge")) == 1


def test_lookup_that_fails_once_then_answers_settles_within_the_call(tenant):
    with simulate("timeout", lookup="unavailable", lookup_failures=1):
        assert charge(tenant).status == "captured"
    assert len(ledger("charge")) == 1


def test_unknown_outcome_stays_pending_and_is_resolved_later_by_the_task(tenant, settings):
    settings.PAYMENT_PENDING_GRACE_SECONDS = 0
    with simulate("lost", lookup="unavailable"):
        with pytest.raises(payment.PaymentAmbiguous) as caught:
            charge(tenant)
        payment_id = caught.value.extra["payment_id"]
        assert caught.value.status == 504
        assert stored(tenant, payment_id).status == "pending"
        # the terminal retries while the provider is still unreachable: still ambiguous, still one charge
        for _ in range(3):
            with pytest.raises(payment.PaymentAmbiguous):
                charge(tenant)
        assert resolve_pending() == {"payments_settled": 0, "payments_pending": 1,
                                     "refunds_settled": 0, "refunds_pending": 0}
    assert events("payment.captured") == []
    assert resolve_pending()["payments_settled"] == 1
    assert stored(tenant, payment_id).status == "captured"
    assert [e["payment_id"] for e in events("payment.captured")] == [payment_id]
    assert charge(tenant).id == payment_id  # and the terminal's next retry gets the captured payment
    (entry,) = ledger("charge")
    assert entry.calls == 1
    assert resolve_pending()["payments_settled"] == 0  # nothing left, nothing published twice
    assert len(events("payment.captured")) == 1


def test_pending_dropped_request_resolves_to_failed_by_the_task(tenant, settings):
    settings.PAYMENT_PENDING_GRACE_SECONDS = 0
    with simulate("drop", lookup="unavailable"), pytest.raises(payment.PaymentAmbiguous) as caught:
        charge(tenant)
    assert resolve_pending()["payments_settled"] == 1
    assert stored(tenant, caught.value.extra["payment_id"]).status == "failed"
    assert len(events("payment.failed")) == 1
    assert ledger() == []


def test_the_task_leaves_young_pending_payments_to_the_call_in_flight(tenant, settings):
    settings.PAYMENT_PENDING_GRACE_SECONDS = 3600
    with simulate("drop", lookup="unavailable"), pytest.raises(payment.PaymentAmbiguous):
        charge(tenant)
    # the provider now answers "not found", but a young payment may still be on its way: it stays pending
    assert resolve_pending()["payments_settled"] == 0
    with pytest.raises(payment.PaymentAmbiguous):  # a retry within the grace does not declare it failed either
        charge(tenant)
    settings.PAYMENT_PENDING_GRACE_SECONDS = 0
    with pytest.raises(payment.PaymentFailed):  # once old enough, "not found" is definitive
        charge(tenant)


def test_behaviour_is_configured_per_tenant_and_method(tenant, other_tenant):
    with tenant_context(tenant.id):
        ProviderBehaviour.objects.using("payment").create(method="card", charge_behaviour="decline")
        ProviderBehaviour.objects.using("payment").create(method="", charge_behaviour="lost")
    with pytest.raises(payment.PaymentDeclined):
        charge(tenant, key="a", method="card")
    assert charge(tenant, key="b", method="kbzpay").status == "captured"  # lost, then found by lookup
    assert charge(other_tenant, key="a", method="card").status == "captured"  # other tenants unaffected
    assert charge(tenant, key="c", method="cash").status == "captured"  # cash never goes to the provider
    assert sorted((e.method, e.status) for e in ledger("charge")) == [
        ("card", "captured"), ("card", "declined"), ("kbzpay", "captured")]


def test_default_behaviour_comes_from_settings(tenant, settings):
    settings.PAYMENT_SIMULATOR_BEHAVIOUR = "decline"
    with pytest.raises(payment.PaymentDeclined):
        charge(tenant)


def test_simulate_refuses_unknown_behaviours():
    with pytest.raises(ValueError, match="Unknown simulator behaviour"), simulate("explode"):
        pass
