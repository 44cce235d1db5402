"""Helpers for the payment tests: money, the simulated provider's ledger, the outbox."""

from __future__ import annotations

import pytest

from modules.payment.models import Payment, Refund, SimulatedProviderEntry
from pos.models import OutboxEvent
from pos.money import Money
from pos.tenancy import all_tenants


def mmk(amount: int) -> Money:
    return Money(amount, "MMK")


def ledger(kind: str | None = None) -> list[SimulatedProviderEntry]:
    """The simulated provider's own record of what it did."""
    rows = SimulatedProviderEntry.objects.using("payment").order_by("created_at")
    return list(rows.filter(kind=kind) if kind else rows)


def captured_at_provider() -> int:
    return sum(e.amount for e in ledger("charge") if e.status == "captured")


def refunded_at_provider() -> int:
    return sum(e.amount for e in ledger("refund"))


def events(name: str) -> list[dict]:
    return [row.payload for row in OutboxEvent.objects.using("payment").filter(name=name).order_by("created_at")]


def payments_written() -> int:
    with all_tenants():
        return Payment.objects.using("payment").count()


def refunds_written() -> int:
    with all_tenants():
        return Refund.objects.using("payment").count()


@pytest.fixture
def nothing_written():
    """Assert the block wrote no payment, no refund, nothing at the provider and no event."""
    def snapshot():
        return (payments_written(), refunds_written(), len(ledger()),
                OutboxEvent.objects.using("payment").count())

    before = snapshot()
    yield
    assert snapshot() == before
