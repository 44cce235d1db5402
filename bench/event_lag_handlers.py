"""A kernel-only benchmark event and handler for bench/event_lag_bench.py (`--through kernel`): the same
outbox -> relay -> inbox path as a real subscriber, with a handler that only writes the level to the Django
cache (Redis in service mode), as pos_core's stock cache does. Loaded by the bench and by its worker through
EVENTS_HANDLER_MODULES=event_lag_handlers (with bench/ on PYTHONPATH)."""

from __future__ import annotations

from django.core.cache import cache

from pos.contracts import Envelope, event
from pos.events import subscribe


@event("bench.stock_changed", version=1)
class BenchStockChanged:
    product_id: str
    level: int
    sequence: int


def cache_key(tenant_id, product_id: str) -> str:
    return f"bench:stock:{tenant_id}:{product_id}"


@subscribe("bench.stock_changed", using="pos_core", name="bench.cache_stock_level")
def cache_stock_level(envelope: Envelope) -> None:
    payload = envelope.payload
    cache.set(cache_key(envelope.tenant_id, payload.product_id),
              {"level": payload.level, "sequence": payload.sequence}, timeout=300)
