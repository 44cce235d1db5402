"""Retention of the event tables: delivered outbox events (with their deliveries) and inbox records older than
`EVENTS_RETENTION_HOURS` are deleted, batch by batch, so the tables stop growing with the traffic.

- Only delivered events go: a pending one is still owed to a subscriber, a dead one waits for an operator
  (replay it, then it is delivered and ages out like the others).
- Each batch is one short transaction over rows nobody else touches (delivered, older than the window):
  the relay claims pending rows with SKIP LOCKED and never waits for the purge.
- Inbox records are kept one retry horizon longer than the outbox rows: a delivery can only come again while
  its row exists and is pending, and its inbox record must still be there to say "done already".
- The window is never shorter than the retry horizon (every attempt's backoff plus its lease): `check_retention`
  refuses such a setting at start-up.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import transaction
from django.utils import timezone

from pos.modules import module_aliases

logger = logging.getLogger("pos.events.purge")


def retry_horizon() -> timedelta:
    """The longest a delivery can stay owed after its event was first delivered or tried: every retry's backoff
    plus a lease for each attempt (a relay that died holding it)."""
    from pos.events.relay import backoff

    attempts = max(settings.EVENTS_MAX_ATTEMPTS, 1)
    waits = sum((backoff(n) for n in range(1, attempts)), timedelta())
    return waits + attempts * timedelta(milliseconds=settings.EVENTS_CLAIM_MS)


def retention() -> timedelta:
    return timedelta(hours=settings.EVENTS_RETENTION_HOURS)


def check_retention() -> None:
    """Refuse a retention window that could delete what a retry still needs. Raises ImproperlyConfigured."""
    horizon = retry_horizon()
    if retention() < horizon:
        raise ImproperlyConfigured(
            f"EVENTS_RETENTION_HOURS={settings.EVENTS_RETENTION_HOURS} keeps delivered events "
            f"{retention()}, shorter than the retry horizon {horizon} (EVENTS_MAX_ATTEMPTS, EVENTS_RETRY_BASE_MS, "
            f"EVENTS_RETRY_MAX_MS, EVENTS_CLAIM_MS): a retried delivery could find its inbox record purged and "
            f"apply twice. Set EVENTS_RETENTION_HOURS to at least {_hours_at_least(horizon)}.")


def _hours_at_least(delta: timedelta) -> int:
    return int(-(-delta.total_seconds() // 3600))


@dataclass
class PurgeReport:
    events: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, int] = field(default_factory=dict)
    inbox: dict[str, int] = field(default_factory=dict)
    batches: int = 0

    @property
    def total(self) -> int:
        return sum(self.events.values()) + sum(self.deliveries.values()) + sum(self.inbox.values())


def purge(aliases=None, *, now: datetime | None = None, batch: int | None = None, pause_ms: int | None = None,
          max_seconds: float | None = None, progress=None) -> PurgeReport:
    """Delete, in every module database (or `aliases`), the delivered events older than the retention window
    with their deliveries, and the inbox records older than the window plus the retry horizon. Batches of
    `batch` rows (EVENTS_PURGE_BATCH), each its own transaction, `pause_ms` apart (EVENTS_PURGE_PAUSE_MS);
    stops after `max_seconds` (the next run goes on). `progress(alias, table, deleted_so_far)` after each batch."""
    now = now or timezone.now()
    batch = batch or settings.EVENTS_PURGE_BATCH
    pause = (settings.EVENTS_PURGE_PAUSE_MS if pause_ms is None else pause_ms) / 1000
    deadline = time.monotonic() + max_seconds if max_seconds else None
    cutoff = now - retention()
    inbox_cutoff = cutoff - retry_horizon()
    report = PurgeReport()
    for alias in aliases or module_aliases():
        report.events[alias] = report.deliveries[alias] = report.inbox[alias] = 0
        while deadline is None or time.monotonic() < deadline:
            events, deliveries = _purge_events(alias, cutoff, batch)
            if not events and not deliveries:
                break
            report.events[alias] += events
            report.deliveries[alias] += deliveries
            report.batches += 1
            if progress:
                progress(alias, "outbox", report.events[alias])
            time.sleep(pause)
        while deadline is None or time.monotonic() < deadline:
            deleted = _purge_inbox(alias, inbox_cutoff, batch)
            if not deleted:
                break
            report.inbox[alias] += deleted
            report.batches += 1
            if progress:
                progress(alias, "inbox", report.inbox[alias])
            time.sleep(pause)
    if report.total:
        logger.info("event tables purged", extra={
            "events": sum(report.events.values()), "deliveries": sum(report.deliveries.values()),
            "inbox": sum(report.inbox.values()), "batches": report.batches, "cutoff": cutoff.isoformat()})
    return report


def _purge_events(alias: str, cutoff: datetime, batch: int) -> tuple[int, int]:
    from pos.models import EventDelivery, OutboxEvent

    delivered = OutboxEvent.Status.DELIVERED
    ids = list(OutboxEvent.objects.using(alias).filter(status=delivered, delivered_at__lt=cutoff)
               .order_by("delivered_at").values_list("id", flat=True)[:batch])
    if not ids:
        return 0, 0
    with transaction.atomic(using=alias):
        deliveries = EventDelivery.objects.using(alias).filter(
            event_id__in=ids, status=EventDelivery.Status.DELIVERED).delete()[0]
        # Only events left with no delivery: one replayed meanwhile keeps its event.
        survivors = EventDelivery.objects.using(alias).filter(event_id__in=ids).values("event_id")
        events = OutboxEvent.objects.using(alias).filter(id__in=ids, status=delivered).exclude(id__in=survivors)
        events = _delete_rows(alias, events)
    return events, deliveries


def _purge_inbox(alias: str, cutoff: datetime, batch: int) -> int:
    from pos.models import InboxRecord

    ids = list(InboxRecord.objects.using(alias).filter(handled_at__lt=cutoff)
               .order_by("handled_at").values_list("id", flat=True)[:batch])
    if not ids:
        return 0
    return InboxRecord.objects.using(alias).filter(id__in=ids).delete()[0]


def _delete_rows(alias: str, queryset) -> int:
    """One DELETE for the rows of `queryset`, without loading them: their deliveries are already gone, and
    Django's cascade collector would first fetch every row, payload and all. (`_raw_delete` is what Django's
    own fast delete runs.)"""
    return queryset._raw_delete(alias)
