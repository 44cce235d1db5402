"""Service mode with a real Celery worker (prefork, beat inside) and a real Redis broker of the test's own,
which the test may stop. Each test starts its worker on the test databases. Skipped in embedded mode."""

from __future__ import annotations

import time
import uuid

import pytest
from django.core.management import call_command
from django.db import transaction
from django.db.models import Count

from conftest import _wait_for
from pos.events import publish, relay
from pos.models import EventDelivery, OutboxEvent
from tests import events_support as support
from tests.events_support import Ping

pytestmark = [pytest.mark.service, pytest.mark.django_db(transaction=True, databases="__all__")]

TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e1e1")
WORKER_ENV = {"EVENTS_HANDLER_MODULES": "tests.events_support"}


@pytest.fixture
def broker(private_redis, use_broker, settings, monkeypatch):
    """This process and its workers both use the private Redis as broker, through the service relay."""
    settings.EVENTS_IN_PROCESS = False
    relay.reset_process_state()
    support.create_effect_tables()
    with use_broker(private_redis.url):
        yield private_redis


def _publish(ping: Ping) -> uuid.UUID:
    with transaction.atomic(using="inventory"):
        return publish(ping, tenant_id=TENANT, using="inventory").id


def _all_delivered(event_ids) -> bool:
    return not EventDelivery.objects.using("inventory").filter(event_id__in=event_ids).exclude(
        status=EventDelivery.Status.DELIVERED).exists()


def _effect_counts(alias: str, handler: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, event_id, _, _ in support.effects(alias, handler):
        counts[event_id] = counts.get(event_id, 0) + 1
    return counts


def _assert_applied_once(event_ids) -> None:
    expected = {str(e): 1 for e in event_ids}
    assert _effect_counts("pos_core", "evt_test.effect_pos_core") == expected
    assert _effect_counts("restaurant", "evt_test.effect_restaurant") == expected


def test_worker_delivers_committed_events_once(broker, celery_worker_factory):
    celery_worker_factory(broker.url, WORKER_ENV)
    event_ids = [_publish(Ping(key=f"k{n}")) for n in range(10)]

    _wait_for(lambda: _all_delivered(event_ids), 20, what="the worker to deliver 10 events")
    _assert_applied_once(event_ids)
    assert not OutboxEvent.objects.using("inventory").exclude(status=OutboxEvent.Status.DELIVERED).exists()


def _wait_while_delivering(event_ids, *, stall_seconds: float, what: str) -> None:
    """Wait until every delivery of `event_ids` is delivered, for as long as deliveries keep completing: only
    `stall_seconds` with none completing is a failure. How fast a loaded machine delivers is not what is tested
    (that is bench/), that everything arrives is."""
    deliveries = EventDelivery.objects.using("inventory").filter(event_id__in=event_ids)
    done, last_progress = -1, time.monotonic()
    while True:
        now_done = deliveries.filter(status=EventDelivery.Status.DELIVERED).count()
        if now_done == deliveries.count():
            return
        if now_done > done:
            done, last_progress = now_done, time.monotonic()
        elif time.monotonic() - last_progress > stall_seconds:
            states = dict(deliveries.values_list("status").annotate(n=Count("id")).values_list("status", "n"))
            raise AssertionError(f"No delivery completed for {stall_seconds:.0f}s while waiting for {what}: {states}.")
        time.sleep(0.2)


def test_redis_down_while_changes_commit_loses_nothing(broker, celery_worker_factory):
    worker = celery_worker_factory(broker.url, WORKER_ENV)
    before = _publish(Ping(key="before"))
    _wait_for(lambda: _all_delivered([before]), 20, what="the first event")

    broker.stop()  # Redis goes away, and with it everything it held
    started = time.monotonic()
    during = [_publish(Ping(key=f"during-{n}")) for n in range(20)]
    assert time.monotonic() - started < 10, "commits must not wait on the broker"
    assert EventDelivery.objects.using("inventory").filter(
        event_id__in=during, status=EventDelivery.Status.PENDING).count() == 40  # accepted, waiting

    broker.start()  # same port, empty: the sweep resends from the outbox
    # The worker reconnects on its own back-off (longer on a loaded machine). A worker may also end during the
    # outage (kombu can fail to acknowledge a task whose connection is gone); the process supervisor restarts it
    # (README, Production), as this test does. Once a worker answers, what the outbox held must all arrive, once.
    try:
        _wait_for(lambda: worker.process.poll() is not None or worker.ping(), 120, interval=0.5,
                  what="the worker to reconnect to Redis")
    except AssertionError:
        worker.stop()  # neither answering nor gone: what a supervisor's health check would restart
    if worker.process.poll() is not None:
        celery_worker_factory(broker.url, WORKER_ENV)  # restarted, as its supervisor would
    _wait_while_delivering(during, stall_seconds=60, what="delivery after Redis returned")
    _assert_applied_once([before, *during])


def test_worker_killed_mid_handler_is_redelivered_and_applied_once(broker, celery_worker_factory, tmp_path):
    env = {**WORKER_ENV, "EVENTS_CLAIM_MS": "3000"}
    first = celery_worker_factory(broker.url, env)
    pause_flag = tmp_path / "handler-started"
    event_id = _publish(Ping(key="killed", pause_flag=str(pause_flag), pause_ms=60_000))

    _wait_for(pause_flag.exists, 20, what="the handler to start")
    first.kill()  # SIGKILL in the middle of the handler: its transaction never commits
    assert _effect_counts("pos_core", "evt_test.effect_pos_core") == {}
    pos_core = EventDelivery.objects.using("inventory").get(event_id=event_id, handler_name="evt_test.effect_pos_core")
    assert pos_core.status == EventDelivery.Status.PENDING

    celery_worker_factory(broker.url, env)  # the lease expires, the sweep sends it again
    _wait_for(lambda: _all_delivered([event_id]), 30, interval=0.2, what="redelivery after the crash")
    _assert_applied_once([event_id])


def test_failing_handler_dead_letters_others_unaffected_and_replay_through_worker(broker, celery_worker_factory,
                                                                                  tmp_path):
    env = {**WORKER_ENV, "EVENTS_MAX_ATTEMPTS": "3", "EVENTS_RETRY_BASE_MS": "200"}
    celery_worker_factory(broker.url, env)
    flag = tmp_path / "fail"
    flag.write_text("1")
    event_id = _publish(Ping(key="doomed", fail_flag=str(flag)))

    def dead():
        return EventDelivery.objects.using("inventory").filter(
            event_id=event_id, handler_name="evt_test.effect_pos_core", status=EventDelivery.Status.DEAD).first()

    row = _wait_for(dead, 30, interval=0.2, what="the failing delivery to be dead-lettered")
    assert row.attempts == 3 and "told to fail" in row.last_error
    assert _effect_counts("restaurant", "evt_test.effect_restaurant") == {str(event_id): 1}
    assert _effect_counts("pos_core", "evt_test.effect_pos_core") == {}

    flag.unlink()  # fixed
    call_command("events", "replay", "--id", str(event_id), "--database", "inventory")
    _wait_for(lambda: _all_delivered([event_id]), 20, interval=0.2, what="the replayed delivery")
    _assert_applied_once([event_id])
    assert relay.drain().handled == 0
