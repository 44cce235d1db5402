"""Celery tasks of the event backbone. Both are safe to run any number of times: a delivery is claimed
before it runs and the consumer's inbox makes a second run harmless."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.db import close_old_connections

from pos.events import relay


@shared_task(name="pos.events.deliver", acks_late=True, ignore_result=True)
def deliver(using: str, event_id: str) -> dict:
    """Deliver the due deliveries of one outbox event of database `using`."""
    close_old_connections()  # connections are reused across tasks: drop broken or expired ones
    report = relay.deliver_event(using, uuid.UUID(event_id))
    return {"delivered": report.delivered, "duplicates": report.duplicates, "failed": report.failed,
            "dead": report.dead}


@shared_task(name="pos.events.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Send again what the after-commit relay left behind (broker down, retry due, worker died)."""
    close_old_connections()
    return relay.sweep()
