"""The POS stock cache: the level of each product/variant in the Django cache (Redis in service mode), under a
tenant-scoped key, for STOCK_CACHE_TTL seconds. Written by the inventory.stock_changed handler, read by
terminals' catalog reads (a miss falls back to inventory's api, and so does a cache that cannot be reached:
a Redis outage makes catalog reads slower, never failed)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from django.core.cache import cache
from redis.exceptions import RedisError

logger = logging.getLogger("pos_core.stock_cache")
# What a cache that cannot be reached raises (Redis refusing or timing out; a socket error underneath).
UNREACHABLE = (RedisError, OSError)

STOCK_CACHE_TTL = 300


def key(tenant_id: uuid.UUID | str, product_id: str, variant: str | None) -> str:
    return f"pos_core:stock:{tenant_id}:{product_id}:{variant or '-'}"


def put(tenant_id: uuid.UUID | str, product_id: str, variant: str | None, *, level: int, threshold: int,
        sequence: int) -> None:
    cache.set(key(tenant_id, product_id, variant), {"level": level, "threshold": threshold, "sequence": sequence},
              timeout=STOCK_CACHE_TTL)


def put_if_absent(tenant_id: uuid.UUID | str, product_id: str, variant: str | None, *, level: int, threshold: int,
                  sequence: int) -> None:
    """Fill a miss from inventory without overwriting what the event handler wrote meanwhile. A cache that
    cannot be reached is left alone: the next read asks inventory again."""
    try:
        cache.add(key(tenant_id, product_id, variant),
                  {"level": level, "threshold": threshold, "sequence": sequence}, timeout=STOCK_CACHE_TTL)
    except UNREACHABLE as exc:
        logger.warning("stock cache unreachable; not filled: %s", exc)


def get_many(tenant_id: uuid.UUID | str, items: list[tuple[str, str | None]]) -> dict[tuple[str, str | None], Any]:
    """The cached entries of `items`; none when the cache cannot be reached (every item is then a miss)."""
    keys = {key(tenant_id, p, v): (p, v) for p, v in items}
    try:
        found = cache.get_many(list(keys))
    except UNREACHABLE as exc:
        logger.warning("stock cache unreachable; reading inventory: %s", exc)
        return {}
    return {keys[k]: value for k, value in found.items()}
