"""Event tables stop growing: delivered events (with their deliveries) and inbox records past the retention
window are purged in batches; pending events and dead letters stay; a window shorter than the retry horizon
is refused at start-up. Deliveries run in-process here (both modes)."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from pos.embedded import EmbeddedBeat
from pos.events import publish, relay
from pos.events import purge as retention
from pos.models import EventDelivery, InboxRecord, OutboxEvent
from tests import events_support as support
from tests.events_support import Ping, Unheard

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e4e4")


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.EVENTS_IN_PROCESS = True
    settings.EVENTS_MAX_ATTEMPTS = 1
    settings.EVENTS_RETENTION_HOURS = 168
    settings.EVENTS_PURGE_PAUSE_MS = 0
    support.create_effect_tables()


def _publish(ping) -> uuid.UUID:
    with transaction.atomic(using="inventory"):
        return publish(ping, tenant_id=TENANT, using="inventory").id


def _age(event_ids, days: float) -> None:
    """Move events' delivery (and their consumers' inbox records) `days` into the past."""
    then = timezone.now() - timedelta(days=days)
    OutboxEvent.objects.using("inventory").filter(id__in=event_ids).update(delivered_at=then, occurred_at=then)
    EventDelivery.objects.using("inventory").filter(event_id__in=event_ids).update(delivered_at=then)
    for alias in ("pos_core", "restaurant"):
        InboxRecord.objects.using(alias).filter(event_id__in=event_ids).update(handled_at=then)


def test_delivered_events_past_the_window_are_purged_in_batches_and_the_rest_stays(tmp_path):
    old = [_publish(Ping(key=f"old-{n}")) for n in range(5)]
    unheard = _publish(Unheard(key="nobody listens"))  # delivered at once, kept as a record until it ages
    recent = _publish(Ping(key="recent"))
    flag = tmp_path / "fail"
    flag.write_text("1")
    dead = _publish(Ping(key="dead", fail_flag=str(flag)))
    _age([*old, unheard, dead], days=8)
    assert OutboxEvent.objects.using("inventory").get(id=dead).status == OutboxEvent.Status.DEAD

    report = retention.purge(batch=2)

    assert report.events["inventory"] == 6 and report.deliveries["inventory"] == 10
    assert report.batches >= 3
    left = set(OutboxEvent.objects.using("inventory").values_list("id", flat=True))
    assert left == {recent, dead}  # the recent one, and the dead letter waiting for an operator
    assert EventDelivery.objects.using("inventory").filter(event_id=dead).count() == 2
    # Their inbox records go too: 8 days is past the window plus the retry horizon.
    assert report.inbox["pos_core"] == 5 and report.inbox["restaurant"] == 6
    assert set(InboxRecord.objects.using("pos_core").values_list("event_id", flat=True)) == {recent}
    assert retention.purge().total == 0  # nothing left to do


def test_inbox_records_outlive_the_outbox_by_the_retry_horizon():
    event_id = _publish(Ping(key="edge"))
    horizon = retention.retry_horizon()
    window = retention.retention()
    # Delivered just past the window, handled within the horizon of it: the event goes, its inbox record stays.
    then = timezone.now() - window - horizon / 2
    OutboxEvent.objects.using("inventory").filter(id=event_id).update(delivered_at=then)
    InboxRecord.objects.using("pos_core").filter(event_id=event_id).update(handled_at=then)
    report = retention.purge(["inventory", "pos_core"])
    assert report.events["inventory"] == 1 and report.inbox["pos_core"] == 0
    assert InboxRecord.objects.using("pos_core").filter(event_id=event_id).exists()


def test_a_batch_costs_the_same_few_queries_whatever_its_size():
    events = [_publish(Ping(key=f"q-{n}")) for n in range(30)]
    _age(events, days=30)
    with CaptureQueriesContext(connections["inventory"]) as queries:
        retention._purge_events("inventory", timezone.now() - retention.retention(), 30)
    assert len(queries) <= 6, [q["sql"][:80] for q in queries]
    assert not OutboxEvent.objects.using("inventory").exists()


def test_replay_including_delivered_stays_within_the_window():
    old = _publish(Ping(key="long ago"))
    fresh = _publish(Ping(key="today"))
    _age([old], days=8)
    ids = list(EventDelivery.objects.using("inventory").values_list("id", flat=True))
    assert relay.replay("inventory", ids, include_delivered=True) == 2  # the two deliveries of `fresh`
    assert set(EventDelivery.objects.using("inventory").filter(replayed_at__isnull=False)
               .values_list("event_id", flat=True)) == {fresh}


def test_a_window_shorter_than_the_retry_horizon_is_refused(settings):
    settings.EVENTS_MAX_ATTEMPTS = 5
    settings.EVENTS_RETRY_MAX_MS = 3_600_000
    settings.EVENTS_RETRY_BASE_MS = 3_600_000
    settings.EVENTS_RETENTION_HOURS = 2
    with pytest.raises(ImproperlyConfigured, match=r"EVENTS_RETENTION_HOURS=2 .* shorter than the retry horizon"):
        retention.check_retention()
    settings.EVENTS_RETENTION_HOURS = 5
    retention.check_retention()  # 4 h of backoff + 5 leases of a minute fit in 5 h


def test_the_process_refuses_to_start_with_a_window_shorter_than_the_retry_horizon():
    env = {**os.environ, "EVENTS_RETENTION_HOURS": "0"}
    result = subprocess.run([sys.executable, "manage.py", "check"], cwd=settings.BASE_DIR, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "ImproperlyConfigured: EVENTS_RETENTION_HOURS=0" in result.stderr
    assert "Set EVENTS_RETENTION_HOURS to at least 1" in result.stderr


def test_the_purge_runs_periodically_in_both_modes_and_by_command():
    assert settings.CELERY_BEAT_SCHEDULE["pos.events.purge"]["task"] == "pos.events.purge"
    old = _publish(Ping(key="periodic"))
    _age([old], days=9)
    out = io.StringIO()
    call_command("events", "purge", "--dry-run", stdout=out)
    assert "inventory: would delete 1 events (with their deliveries), 0 inbox records" in out.getvalue()
    assert OutboxEvent.objects.using("inventory").filter(id=old).exists()

    beat = EmbeddedBeat({"purge": settings.CELERY_BEAT_SCHEDULE["pos.events.purge"]})
    beat.run_due(0.0, {})
    assert beat.runs["purge"] == 1
    assert not OutboxEvent.objects.using("inventory").filter(id=old).exists()
    assert not InboxRecord.objects.using("pos_core").filter(event_id=old).exists()

    out = io.StringIO()
    call_command("events", "purge", "--database", "inventory", stdout=out)
    assert "inventory: 0 events, 0 deliveries, 0 inbox records deleted" in out.getvalue()
