"""Historical payments imported as they were settled: no provider is called, one batch per transaction,
idempotent by key, dated at their capture time, and a bad batch writes nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from modules.payment import api as payment
from modules.payment.models import Payment, SimulatedProviderEntry
from pos.models import OutboxEvent
from pos.tenancy import all_tenants

pytestmark = pytest.mark.django_db(databases="__all__")

WHEN = datetime(2025, 3, 1, 5, 30, tzinfo=UTC)  # 12:00 in Yangon


def batch(start: int = 0, count: int = 3) -> list[dict]:
    entries = []
    for n in range(start, start + count):
        entries.append({"key": f"legacy:p{n}", "method": ["cash", "card", "kbzpay"][n % 3], "amount": 1000 * (n + 1),
                        "currency": "MMK", "captured_at": WHEN + timedelta(days=n), "tendered": 5000 * (n + 1),
                        "reference": f"order-{n}",
                        "refunds": [{"key": f"legacy:r{n}", "amount": 500, "reason": "cold",
                                     "created_at": WHEN + timedelta(days=n, hours=1)}] if n % 2 else []})
    return entries


def test_imported_payments_are_recorded_as_settled_without_any_provider(tenant):
    result = payment.import_payments(tenant_id=tenant.id, payments=batch(), source="test")
    assert result.created == ("legacy:p0", "legacy:p1", "legacy:p2") and result.existing == ()
    assert result.ids["legacy:p1"] == payment.imported_payment_id(tenant_id=tenant.id, key="legacy:p1")
    cash = payment.get_payment(tenant_id=tenant.id, payment_id=result.ids["legacy:p0"])
    assert (cash.status, cash.captured.amount, cash.tendered.amount, cash.change_due.amount) == (
        "captured", 1000, 5000, 4000)
    assert cash.created_at == WHEN and cash.reference == "order-0"
    card = payment.get_payment(tenant_id=tenant.id, payment_id=result.ids["legacy:p1"])
    assert (card.status, card.refunded.amount, card.tendered) == ("partially_refunded", 500, None)
    refunds = payment.get_refunds(tenant_id=tenant.id, payment_id=card.id)
    assert [(r.id, r.amount.amount, r.status) for r in refunds] == [
        (payment.imported_refund_id(tenant_id=tenant.id, key="legacy:r1"), 500, "succeeded")]
    assert not SimulatedProviderEntry.objects.using("payment").exists()
    assert [e.payload["payments"] for e in OutboxEvent.objects.using("payment")] == [3]
    days = payment.imported_payments_by_day(tenant_id=tenant.id, key_prefix="legacy:", tz="Asia/Yangon")
    assert [(d.day, d.payments, d.captured, d.refunds, d.refunded) for d in days] == [
        ("2025-03-01", 1, 1000, 0, 0), ("2025-03-02", 1, 2000, 1, 500), ("2025-03-03", 1, 3000, 0, 0)]


def test_a_repeated_batch_adds_nothing_and_statements_do_not_grow(tenant):
    def statements(entries):
        with CaptureQueriesContext(connections["payment"]) as queries:
            payment.import_payments(tenant_id=tenant.id, payments=entries, source="test")
        return len(queries)

    assert statements(batch(0, 4)) == statements(batch(10, 20))  # (SQLite splits INSERTs past 999 values)
    again = payment.import_payments(tenant_id=tenant.id, payments=batch(0, 4), source="test")
    assert again.created == () and len(again.existing) == 4
    with all_tenants():
        assert Payment.objects.using("payment").count() == 24


@pytest.mark.parametrize("change, field", [
    ({"method": "bitcoin"}, "payments[1].method"),
    ({"currency": "USD"}, "payments[1].currency"),
    ({"amount": 0}, "payments[1].amount"),
    ({"amount": 10.5}, "payments[1].amount"),
    ({"captured_at": datetime(2025, 3, 1)}, "payments[1].captured_at"),
    ({"refunds": [{"key": "r", "amount": 99_999, "created_at": WHEN}]}, "payments[1].refunds"),
    ({"key": "legacy:p0"}, "payments[1].key"),
])
def test_a_bad_entry_rejects_the_batch_and_writes_nothing(tenant, change, field):
    entries = batch(0, 2)
    entries[1].update(change)
    with pytest.raises(payment.InvalidImport) as caught:
        payment.import_payments(tenant_id=tenant.id, payments=entries, source="test")
    assert field in {e["field"] for e in caught.value.extra["errors"]}
    with all_tenants():
        assert not Payment.objects.using("payment").exists()


def test_a_refund_key_already_used_by_another_payment_is_refused(tenant):
    payment.import_payments(tenant_id=tenant.id, payments=batch(1, 1), source="test")
    clash = batch(5, 1)
    clash[0]["refunds"] = [{"key": "legacy:r1", "amount": 100, "reason": "x", "created_at": WHEN}]
    with pytest.raises(payment.InvalidImport, match="legacy:r1"):
        payment.import_payments(tenant_id=tenant.id, payments=clash, source="test")
