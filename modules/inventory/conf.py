"""Settings of the inventory module, read from Django settings when set, else from the environment."""

from __future__ import annotations

import os

from django.conf import settings

DEFAULT_RESERVATION_TTL_SECONDS = 15 * 60
DEFAULT_EXPIRY_SWEEP_SECONDS = 60


def _setting(name: str, default: int) -> int:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name) or default
    return int(value)


def reservation_ttl_seconds() -> int:
    """INVENTORY_RESERVATION_TTL_SECONDS: how long a reservation holds stock (default 15 minutes)."""
    return _setting("INVENTORY_RESERVATION_TTL_SECONDS", DEFAULT_RESERVATION_TTL_SECONDS)


def expiry_sweep_seconds() -> int:
    """INVENTORY_EXPIRY_SWEEP_SECONDS: how often the periodic task releases expired reservations."""
    return _setting("INVENTORY_EXPIRY_SWEEP_SECONDS", DEFAULT_EXPIRY_SWEEP_SECONDS)
