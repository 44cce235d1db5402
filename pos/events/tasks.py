"""Celery tasks of the event backbone. Each is safe to run any number of times: a delivery is claimed
before it runs and the consumer's inbox makes a second run harmless."""

from __future__ import annotations

import uuid

from celery import shared_task
from django.conf import settings
from django.db import close_old_connections

from pos.events import purge as retention
from pos.events import relay


@shared_task(name="pos.events.deliver", acks_late=True, ignore_result=True)
def deliver(using: str, event_id: str) -> dict:
    """Deliver the due deliveries of one outbox event of database `using`."""
    close_old_connections()  # connections are reused across tasks: drop broken or expired ones
    report = relay.deliver_event(using, uuid.UUID(event_id))
    return {"delivered": report.delivered, "duplicates": report.duplicates, "failed": report.failed,
            "dead": report.dead}


@shared_task(name="pos.events.deliver_batch", acks_late=True, ignore_result=True)
def deliver_batch(using: str, event_ids: list[str]) -> dict:
    """Deliver the due deliveries of several outbox events of database `using` (a batch published at once)."""
    close_old_connections()
    report = relay.deliver_events(using, [uuid.UUID(event_id) for event_id in event_ids])
    return {"delivered": report.delivered, "duplicates": report.duplicates, "failed": report.failed,
            "dead": report.dead}


@shared_task(name="pos.events.deliver_groups", acks_late=True, ignore_result=True)
def deliver_groups(groups: dict[str, list[str]]) -> dict:
    """Deliver the due deliveries of events committed on several databases by one piece of work (an order
    placement: `relay.sent_together`), database by database."""
    close_old_connections()
    report = relay.DeliveryReport()
    for using, event_ids in groups.items():
        report.add(relay.deliver_events(using, [uuid.UUID(event_id) for event_id in event_ids]))
    return {"delivered": report.delivered, "duplicates": report.duplicates, "failed": report.failed,
            "dead": report.dead}


@shared_task(name="pos.events.sweep", ignore_result=True)
def sweep() -> dict[str, int]:
    """Send again what the after-commit relay left behind (broker down, retry due, worker died)."""
    close_old_connections()
    return relay.sweep()


@shared_task(name="pos.events.purge", ignore_result=True)
def purge() -> dict[str, int]:
    """Delete delivered events, their deliveries and inbox records older than the retention window, batch by
    batch, for at most EVENTS_PURGE_MAX_SECONDS (the next run goes on)."""
    close_old_connections()
    report = retention.purge(max_seconds=settings.EVENTS_PURGE_MAX_SECONDS)
    return {"events": sum(report.events.values()), "deliveries": sum(report.deliveries.values()),
            "inbox": sum(report.inbox.values())}
