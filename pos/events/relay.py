"""Hands committed outbox rows to their subscribers."""

from __future__ import annotations

import uuid


def after_commit(using: str, event_id: uuid.UUID) -> None:
    """Called once the publishing transaction has committed. Delivery is added by the event backbone."""
