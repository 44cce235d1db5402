"""Embedded mode runs the periodic tasks in-process (no Redis, no worker)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from pos.embedded import EmbeddedBeat
from pos.models import IdempotencyRecord

pytestmark = pytest.mark.django_db(databases="__all__")


def test_every_periodic_task_of_every_module_is_scheduled():
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert {"pos.events.sweep", "pos.purge_idempotency_keys", "inventory.expire_reservations",
            "payment.resolve_pending", "pos_core.recover_sagas"} <= tasks


def test_the_embedded_beat_runs_due_tasks_and_waits_for_the_interval(tenant):
    IdempotencyRecord.objects.create(tenant_id=tenant.id, key="old", method="POST", path="/x", fingerprint="f",
                                     locked_until=timezone.now(), expires_at=timezone.now() - timedelta(seconds=1))
    beat = EmbeddedBeat({"purge": {"task": "pos.purge_idempotency_keys", "schedule": timedelta(hours=1)}})
    next_run: dict[str, float] = {}
    beat.run_due(1000.0, next_run)
    assert not IdempotencyRecord.objects.filter(key="old").exists()
    beat.run_due(1001.0, next_run)  # not due again for an hour
    assert beat.runs["purge"] == 1
    beat.run_due(1000.0 + 3600, next_run)
    assert beat.runs["purge"] == 2


def test_a_failing_task_is_logged_and_does_not_stop_the_others(caplog):
    beat = EmbeddedBeat({"missing": {"task": "pos.no_such_task", "schedule": 5},
                         "purge": {"task": "pos.purge_idempotency_keys", "schedule": 5}})
    beat.run_due(0.0, {})
    assert beat.runs == {"missing": 0, "purge": 1}
