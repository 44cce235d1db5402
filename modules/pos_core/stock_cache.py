"""The POS stock cache: the level of each product/variant in the Django cache (Redis in service mode), under a
tenant-scoped key, for STOCK_CACHE_TTL seconds. Written by the inventory.stock_changed handler, read by
terminals' catalog reads (a miss falls back to inventory's api)."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.cache import cache

STOCK_CACHE_TTL = 300


def key(tenant_id: uuid.UUID | str, product_id: str, variant: str | None) -> str:
    return f"pos_core:stock:{tenant_id}:{product_id}:{variant or '-'}"


def put(tenant_id: uuid.UUID | str, product_id: str, variant: str | None, *, level: int, threshold: int,
        sequence: int) -> None:
    cache.set(key(tenant_id, product_id, variant), {"level": level, "threshold": threshold, "sequence": sequence},
              timeout=STOCK_CACHE_TTL)


def put_if_absent(tenant_id: uuid.UUID | str, product_id: str, variant: str | None, *, level: int, threshold: int,
                  sequence: int) -> None:
    """Fill a miss from inventory without overwriting what the event handler wrote meanwhile."""
    cache.add(key(tenant_id, product_id, variant), {"level": level, "threshold": threshold, "sequence": sequence},
              timeout=STOCK_CACHE_TTL)


def get_many(tenant_id: uuid.UUID | str, items: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], Any]:
    keys = {key(tenant_id, p, v): (p, v) for p, v in items}
    found = cache.get_many(list(keys))
    return {keys[k]: value for k, value in found.items()}
