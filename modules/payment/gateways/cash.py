"""Cash: the drawer always takes the money and always gives it back. No provider, no ledger."""

from __future__ import annotations

import uuid

from pos.money import Money

from .base import ProviderResult


class CashGateway:
    name = "cash"

    def charge(self, *, key: str, tenant_id: uuid.UUID, method: str, amount: Money) -> ProviderResult:
        return ProviderResult("approved", reference=f"cash-{key[-16:]}")

    def lookup_charge(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult:
        return ProviderResult("approved", reference=f"cash-{key[-16:]}")

    def refund(self, *, key: str, tenant_id: uuid.UUID, method: str, charge_reference: str,
               amount: Money) -> ProviderResult:
        return ProviderResult("approved", reference=f"cash-{key[-16:]}")

    def lookup_refund(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult:
        return ProviderResult("approved", reference=f"cash-{key[-16:]}")
