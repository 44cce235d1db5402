"""Settings of the inventory module (config/settings.py reads them from the environment)."""

from __future__ import annotations

from django.conf import settings

DEFAULT_RESERVATION_TTL_SECONDS = 15 * 60
DEFAULT_EXPIRY_SWEEP_SECONDS = 60


def _setting(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


def reservation_ttl_seconds() -> int:
    """INVENTORY_RESERVATION_TTL_SECONDS: how long a reservation holds stock (default 15 minutes)."""
    return _setting("INVENTORY_RESERVATION_TTL_SECONDS", DEFAULT_RESERVATION_TTL_SECONDS)


def expiry_sweep_seconds() -> int:
    """INVENTORY_EXPIRY_SWEEP_SECONDS: how often the periodic task releases expired reservations."""
    return _setting("INVENTORY_EXPIRY_SWEEP_SECONDS", DEFAULT_EXPIRY_SWEEP_SECONDS)
