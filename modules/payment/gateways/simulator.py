"""A simulated card/wallet provider with its own persistent ledger (SimulatedProviderEntry).

It behaves like a real one: idempotent by key (a repeated key returns the first answer and never charges
again), refuses refunds beyond the charge, and can be told to misbehave. Behaviour comes from, first to last:
a `simulate(...)` override (tests, per call), the tenant's ProviderBehaviour row for the method, the tenant's
row for every method, settings.PAYMENT_SIMULATOR_BEHAVIOUR, "approve".

- approve: charged, answered.          - decline: refused, answered.
- error: refused to process, nothing charged, answered with an error.
- timeout: charged, but the answer comes too late (ambiguous).
- lost: charged, the response is lost on the way back (ambiguous).
- drop: the request never reached the provider, nothing charged (ambiguous).
- slow: waits delay_ms, then approves.
Lookups answer, or are "unavailable" (optionally only for the first N lookups).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Sum

from pos.db import alone
from pos.db.bulk import insert_together
from pos.db.hot import rows_where
from pos.money import Money
from pos.tenancy import tenant_context

from ..models import Behaviour, LookupBehaviour, ProviderBehaviour, SimulatedProviderEntry
from .base import GatewayAmbiguous, GatewayUnavailable, ProviderResult

DB = "payment"


@dataclass(frozen=True)
class SimulatorConfig:
    charge: str = Behaviour.APPROVE
    refund: str = Behaviour.APPROVE
    lookup: str = LookupBehaviour.ANSWER
    delay_ms: int = 300
    lookup_failures: int | None = None  # with lookup="unavailable": fail this many lookups, then answer


# A process-wide override (not a context variable) so it also reaches worker threads in concurrency tests.
_lock = threading.Lock()
_override: SimulatorConfig | None = None
_lookup_failures_left: int | None = None


@contextlib.contextmanager
def simulate(charge: str = Behaviour.APPROVE, *, refund: str = Behaviour.APPROVE, lookup: str = LookupBehaviour.ANSWER,
             delay_ms: int = 300, lookup_failures: int | None = None) -> Iterator[SimulatorConfig]:
    """Make the simulated provider behave this way inside the block, whatever the stored configuration."""
    global _override, _lookup_failures_left
    valid = set(Behaviour.values)
    if charge not in valid or refund not in valid or lookup not in LookupBehaviour.values:
        raise ValueError(f"Unknown simulator behaviour: charge={charge!r} refund={refund!r} lookup={lookup!r}.")
    config = SimulatorConfig(charge=charge, refund=refund, lookup=lookup, delay_ms=delay_ms,
                             lookup_failures=lookup_failures)
    with _lock:
        previous, previous_left = _override, _lookup_failures_left
        _override, _lookup_failures_left = config, lookup_failures
    try:
        yield config
    finally:
        with _lock:
            _override, _lookup_failures_left = previous, previous_left


def configured(tenant_id: uuid.UUID, method: str) -> SimulatorConfig:
    if _override is not None:
        return _override
    with tenant_context(tenant_id):
        rows = {row.method: row for row in rows_where(ProviderBehaviour, using=DB, method__in=[method, ""])}
    row = rows.get(method) or rows.get("")
    if row is not None:
        return SimulatorConfig(charge=row.charge_behaviour, refund=row.refund_behaviour,
                               lookup=row.lookup_behaviour, delay_ms=row.delay_ms)
    return replace(SimulatorConfig(), charge=settings.PAYMENT_SIMULATOR_BEHAVIOUR)


def _lookup_allowed(config: SimulatorConfig) -> bool:
    global _lookup_failures_left
    if config.lookup != LookupBehaviour.UNAVAILABLE:
        return True
    if config.lookup_failures is None or config is not _override:
        return False
    with _lock:
        if _lookup_failures_left and _lookup_failures_left > 0:
            _lookup_failures_left -= 1
            return False
        return True


def _result(entry: SimulatedProviderEntry) -> ProviderResult:
    if entry.status == SimulatedProviderEntry.Status.DECLINED:
        return ProviderResult("declined", reference=entry.reference, reason="declined_by_issuer")
    return ProviderResult("approved", reference=entry.reference)


def _record(*, key: str, tenant_id: uuid.UUID, kind: str, status: str, method: str, amount: Money,
            charge_reference: str = "") -> tuple[SimulatedProviderEntry, bool]:
    """Write to the provider's ledger once per key; a repeated key returns the first entry."""
    try:
        with alone(DB):
            entry = SimulatedProviderEntry(
                key=key, merchant_id=tenant_id, kind=kind, status=status, method=method, amount=amount.amount,
                currency=amount.currency, reference=f"sim_{uuid.uuid4().hex[:20]}", charge_reference=charge_reference)
            insert_together(DB, [entry])  # its statement text is kept: no compiling per charge
        return entry, True
    except IntegrityError:
        SimulatedProviderEntry.objects.using(DB).filter(key=key).update(calls=F("calls") + 1)
        return SimulatedProviderEntry.objects.using(DB).get(key=key), False


class SimulatedProviderGateway:
    name = "simulator"

    def charge(self, *, key: str, tenant_id: uuid.UUID, method: str, amount: Money,
               behaviour: str | None = None) -> ProviderResult:
        config = configured(tenant_id, method)
        behaviour = behaviour or config.charge
        if behaviour == Behaviour.SLOW:
            time.sleep(config.delay_ms / 1000)
        if behaviour == Behaviour.ERROR:
            return ProviderResult("failed", reason="provider_error")
        if behaviour == Behaviour.DROP:
            raise GatewayAmbiguous("The request did not reach the provider in time.")
        status = (SimulatedProviderEntry.Status.DECLINED if behaviour == Behaviour.DECLINE
                  else SimulatedProviderEntry.Status.CAPTURED)
        entry, _ = _record(key=key, tenant_id=tenant_id, kind=SimulatedProviderEntry.Kind.CHARGE, status=status,
                           method=method, amount=amount)
        if behaviour == Behaviour.TIMEOUT:
            raise GatewayAmbiguous("The provider did not answer in time.")
        if behaviour == Behaviour.LOST:
            raise GatewayAmbiguous("The connection dropped before the provider's answer arrived.")
        return _result(entry)

    def _lookup(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult:
        if not _lookup_allowed(configured(tenant_id, method)):
            raise GatewayUnavailable("The provider's lookup is unavailable.")
        entry = SimulatedProviderEntry.objects.using(DB).filter(key=key, merchant_id=tenant_id).first()
        return _result(entry) if entry else ProviderResult("not_found")

    def lookup_charge(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult:
        return self._lookup(key=key, tenant_id=tenant_id, method=method)

    def refund(self, *, key: str, tenant_id: uuid.UUID, method: str, charge_reference: str, amount: Money,
               behaviour: str | None = None) -> ProviderResult:
        config = configured(tenant_id, method)
        behaviour = behaviour or config.refund
        if behaviour == Behaviour.SLOW:
            time.sleep(config.delay_ms / 1000)
        if behaviour in (Behaviour.ERROR, Behaviour.DECLINE):
            return ProviderResult("failed", reason="provider_error" if behaviour == Behaviour.ERROR else "refused")
        if behaviour == Behaviour.DROP:
            raise GatewayAmbiguous("The refund request did not reach the provider in time.")
        with transaction.atomic(using=DB):
            existing = SimulatedProviderEntry.objects.using(DB).filter(key=key).first()
            if existing is None:
                # the provider's own guard: its charge row is locked while it checks what is left to refund
                charge = SimulatedProviderEntry.objects.using(DB).select_for_update().filter(
                    reference=charge_reference, kind=SimulatedProviderEntry.Kind.CHARGE,
                    status=SimulatedProviderEntry.Status.CAPTURED).first()
                if charge is None:
                    return ProviderResult("failed", reason="unknown_charge")
                refunded = SimulatedProviderEntry.objects.using(DB).filter(
                    charge_reference=charge_reference, kind=SimulatedProviderEntry.Kind.REFUND,
                ).aggregate(total=Sum("amount"))["total"] or 0
                if refunded + amount.amount > charge.amount:
                    return ProviderResult("failed", reason="exceeds_charge")
            entry, _ = _record(key=key, tenant_id=tenant_id, kind=SimulatedProviderEntry.Kind.REFUND,
                               status=SimulatedProviderEntry.Status.REFUNDED, method=method, amount=amount,
                               charge_reference=charge_reference)
        if behaviour == Behaviour.TIMEOUT:
            raise GatewayAmbiguous("The provider did not answer the refund in time.")
        if behaviour == Behaviour.LOST:
            raise GatewayAmbiguous("The connection dropped before the refund's answer arrived.")
        return _result(entry)

    def lookup_refund(self, *, key: str, tenant_id: uuid.UUID, method: str) -> ProviderResult:
        return self._lookup(key=key, tenant_id=tenant_id, method=method)
