"""Provider gateways: one interface, a cash drawer and a simulated card/wallet provider.

Every call carries the provider idempotency key the payment row already holds (persisted and committed
before the call), so repeating a call never charges twice. A gateway answers with a ProviderResult, or raises
GatewayAmbiguous when the outcome is unknown (timeout, lost response): the caller then asks `lookup_*`,
never charges again. `lookup_*` raises GatewayUnavailable when the provider cannot be asked right now.
"""

from __future__ import annotations

from .base import Gateway, GatewayAmbiguous, GatewayUnavailable, ProviderResult
from .cash import CashGateway
from .simulator import SimulatedProviderGateway, simulate

__all__ = [
    "CashGateway", "Gateway", "GatewayAmbiguous", "GatewayUnavailable", "ProviderResult",
    "SimulatedProviderGateway", "gateway_for", "simulate",
]

_CASH = CashGateway()
_SIMULATOR = SimulatedProviderGateway()


def gateway_for(method: str) -> Gateway:
    """The gateway that handles `method`. Card and wallets go to the (simulated) provider."""
    return _CASH if method == "cash" else _SIMULATOR
