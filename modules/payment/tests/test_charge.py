"""Charging: cash rounding, tender and change, idempotency by key, bad input."""

from __future__ import annotations

import pytest

from modules.payment import api as payment
from modules.payment.models import Payment, SimulatedProviderEntry
from pos.models import OutboxEvent
from pos.money import Money
from pos.tenancy import all_tenants

pytestmark = pytest.mark.django_db(databases="__all__")


def mmk(amount: int) -> Money:
    return Money(amount, "MMK")


def events(name: str) -> list[dict]:
    return [row.payload for row in OutboxEvent.objects.using("payment").filter(name=name).order_by("created_at")]


def payments_written() -> int:
    with all_tenants():
        return Payment.objects.using("payment").count()


def test_cash_rounds_to_the_tenant_unit_and_records_the_adjustment(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_320), method="cash", idempotency_key="k1",
                          tendered=mmk(20_000), reference="order-1")
    assert info.status == "captured"
    assert info.amount == mmk(12_320)
    assert info.rounding_adjustment == mmk(-20)
    assert info.captured == mmk(12_300)
    assert info.change_due == mmk(7_700)
    assert info.tendered == mmk(20_000)
    assert events("payment.captured") == [{"payment_id": info.id, "amount": 12_300, "currency": "MMK",
                                           "method": "cash", "reference": "order-1"}]


def test_cash_rounds_half_up(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_325), method="cash", idempotency_key="k1")
    assert info.captured == mmk(12_350)
    assert info.rounding_adjustment == mmk(25)
    assert info.change_due is None


def test_card_is_not_rounded_and_captured_once_at_the_provider(tenant):
    info = payment.charge(tenant_id=tenant.id, amount=mmk(12_320), method="card", idempotency_key="k1")
    assert info.captured == mmk(12_320)
    assert info.rounding_adjustment == mmk(0)
    entry = SimulatedProviderEntry.objects.using("payment").get()
    assert (entry.kind, entry.status, entry.amount, entry.reference) == ("charge", "captured", 12_320,
                                                                          info.provider_reference)
