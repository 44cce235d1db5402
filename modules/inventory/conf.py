"""Settings of the inventory module (config/settings.py reads them from the environment, with their defaults)."""

from __future__ import annotations

from django.conf import settings


def reservation_ttl_seconds() -> int:
    """INVENTORY_RESERVATION_TTL_SECONDS: how long a reservation holds stock (default 15 minutes)."""
    return settings.INVENTORY_RESERVATION_TTL_SECONDS


def expiry_sweep_seconds() -> int:
    """INVENTORY_EXPIRY_SWEEP_SECONDS: how often the periodic task releases expired reservations."""
    return settings.INVENTORY_EXPIRY_SWEEP_SECONDS
