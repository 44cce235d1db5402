from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Literal, Protocol

from pos.money import Money

Outcome = Literal["approved", "declined", "failed", "not_found"]


@dataclass(frozen=True)
class ProviderResult:
    outcome: Outcome
    reference: str = ""
    reason: str = ""


class GatewayAmbiguous(Exception):
    """The request may or may not have been processed (timeout, response lost). Look it up; never resend."""


class GatewayUnavailable(Exception):
    """The provider cannot be reached for a lookup right now."""


class Gateway(Protocol):
    name: str

    def charge(self, *, key: str, tenant_id: uuid.UUID, method: str, amount: Money) -> ProviderResult: ...

    def lookup_charge(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult: ...

    def refund(self, *, key: str, tenant_id: uuid.UUID, method: str, charge_reference: str,
               amount: Money) -> ProviderResult: ...

    def lookup_refund(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult: ...
