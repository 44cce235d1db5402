"""The event backbone's guarantees, through the in-process relay (embedded mode's path; in service mode
these tests switch the relay to in-process so they need no worker, and the same claims run on PostgreSQL).
The service path with a real worker and real Redis is in test_events_service.py."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from django.db import connections, transaction
from django.utils import timezone

from pos.contracts import SchemaError, event
from pos.events import PublishOutsideTransaction, publish, relay
from pos.models import EventDelivery, InboxRecord, OutboxEvent
from tests import events_support as support
from tests.events_support import Ping, Unheard

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e0e0")


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.EVENTS_IN_PROCESS = True
    settings.EVENTS_RETRY_BASE_MS = 2000
    settings.EVENTS_MAX_ATTEMPTS = 5
    support.create_effect_tables()


def _publish(ping, using: str = "inventory"):
    with transaction.atomic(using=using):
        return publish(ping, tenant_id=TENANT, using=using)


def _deliveries(event_id) -> dict[str, EventDelivery]:
    return {d.handler_name: d for d in EventDelivery.objects.using("inventory").filter(event_id=event_id)}


def test_rollback_publishes_nothing():
    with pytest.raises(RuntimeError), transaction.atomic(using="inventory"):
        publish(Ping(key="rolled-back"), tenant_id=TENANT, using="inventory")
        raise RuntimeError("the change failed")
    assert not OutboxEvent.objects.using("inventory").exists()
    assert not EventDelivery.objects.using("inventory").exists()
    assert support.effects("pos_core") == [] and support.effects("restaurant") == []


def test_commit_delivers_once_to_every_subscriber_in_its_own_database_and_tenant():
    envelope = _publish(Ping(key="k1"))

    assert support.effects("pos_core") == [("evt_test.effect_pos_core", str(envelope.id), "k1", str(TENANT))]
    assert support.effects("restaurant") == [("evt_test.effect_restaurant", str(envelope.id), "k1", str(TENANT))]
    row = OutboxEvent.objects.using("inventory").get(id=envelope.id)
    assert row.status == OutboxEvent.Status.DELIVERED and row.delivered_at is not None
    deliveries = _deliveries(envelope.id)
    assert {d.status for d in deliveries.values()} == {EventDelivery.Status.DELIVERED}
    assert {d.consumer_alias for d in deliveries.values()} == {"pos_core", "restaurant"}
    assert InboxRecord.objects.using("pos_core").filter(event_id=envelope.id).count() == 1
    assert InboxRecord.objects.using("restaurant").filter(event_id=envelope.id).count() == 1
    assert not InboxRecord.objects.using("inventory").exists()


def test_unknown_event_and_bad_payload_fail_at_once():
    class NotDeclared:
        event_name = "evt_test.nobody_declared_me"

    with transaction.atomic(using="inventory"):
        with pytest.raises(SchemaError):
            publish(NotDeclared(), tenant_id=TENANT, using="inventory")
        with pytest.raises(SchemaError):
            Ping(key=42)  # an int where the schema says str
        with pytest.raises(SchemaError):
            event("evt_test.ping")(type("Again", (), {"__annotations__": {"key": str}}))  # declared twice
    assert not OutboxEvent.objects.using("inventory").exists()


def test_publish_outside_a_transaction_of_its_database_fails():
    with pytest.raises(PublishOutsideTransaction):
        publish(Ping(key="loose"), tenant_id=TENANT, using="inventory")
    with pytest.raises(PublishOutsideTransaction), transaction.atomic(using="pos_core"):
        publish(Ping(key="wrong-db"), tenant_id=TENANT, using="inventory")
    assert not OutboxEvent.objects.using("inventory").exists()


def test_event_without_subscribers_is_recorded_as_delivered():
    envelope = _publish(Unheard(key="x"))
    row = OutboxEvent.objects.using("inventory").get(id=envelope.id)
    assert row.status == OutboxEvent.Status.DELIVERED
    assert not EventDelivery.objects.using("inventory").filter(event_id=envelope.id).exists()


def test_same_event_delivered_twice_has_one_effect():
    envelope = _publish(Ping(key="twice"))
    # Simulate a redelivery (a relay died after the handler committed, before recording it).
    EventDelivery.objects.using("inventory").filter(event_id=envelope.id).update(
        status=EventDelivery.Status.PENDING, claimed_until=None)

    report = relay.deliver_event("inventory", envelope.id)

    assert report.duplicates == 2 and report.delivered == 0
    assert len(support.effects("pos_core")) == 1 and len(support.effects("restaurant")) == 1
    assert {d.status for d in _deliveries(envelope.id).values()} == {EventDelivery.Status.DELIVERED}


def test_a_claimed_row_is_not_delivered_by_a_second_relay_until_its_lease_expires(settings):
    settings.EVENTS_IN_PROCESS = False  # keep the after-commit relay out of the way; nothing is enqueued
    from pos.events import tasks

    sent = []
    tasks.deliver.apply_async = lambda args, **kw: sent.append(args)  # type: ignore[method-assign]
    try:
        envelope = _publish(Ping(key="claimed"))
    finally:
        del tasks.deliver.apply_async
    assert sent == [("inventory", str(envelope.id))]

    _token, first = relay.claim("inventory", event_id=envelope.id)
    _, second = relay.claim("inventory", event_id=envelope.id)
    assert len(first) == 2 and second == []
    later = timezone.now() + timedelta(milliseconds=settings.EVENTS_CLAIM_MS + 1000)
    _, after_lease = relay.claim("inventory", event_id=envelope.id, now=later)
    assert len(after_lease) == 2


def test_failing_handler_retries_with_backoff_then_dead_letters_without_blocking_others(tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    envelope = _publish(Ping(key="boom", fail_flag=str(flag)))

    failing = _deliveries(envelope.id)["evt_test.effect_pos_core"]
    assert failing.status == EventDelivery.Status.PENDING and failing.attempts == 1
    assert "told to fail" in failing.last_error
    assert timedelta(seconds=1.5) < failing.next_attempt_at - timezone.now() <= timedelta(seconds=2)
    # The other handler of the same event is not held back.
    assert len(support.effects("restaurant")) == 1
    assert _deliveries(envelope.id)["evt_test.effect_restaurant"].status == EventDelivery.Status.DELIVERED
    # Not due yet: nothing happens.
    assert relay.drain().handled == 0

    now = timezone.now()
    for attempt in range(2, 6):
        now += relay.backoff(attempt - 1) + timedelta(milliseconds=100)
        assert relay.drain(now=now).handled == 1
    failing = _deliveries(envelope.id)["evt_test.effect_pos_core"]
    assert failing.status == EventDelivery.Status.DEAD and failing.attempts == 5
    assert OutboxEvent.objects.using("inventory").get(id=envelope.id).status == OutboxEvent.Status.DEAD
    assert relay.drain(now=now + timedelta(days=1)).handled == 0  # dead stays dead
    assert support.effects("pos_core") == []  # every failed attempt rolled back its effect

    flag.unlink()  # the handler is fixed
    assert relay.replay("inventory", [failing.id]) == 1

    assert len(support.effects("pos_core")) == 1
    assert _deliveries(envelope.id)["evt_test.effect_pos_core"].status == EventDelivery.Status.DELIVERED
    assert OutboxEvent.objects.using("inventory").get(id=envelope.id).status == OutboxEvent.Status.DELIVERED
    assert len(support.effects("restaurant")) == 1


def test_the_event_summary_written_with_each_delivery_is_what_refresh_events_computes(tmp_path):
    """A delivery's outcome and its event's summary go in one statement on PostgreSQL: after each step the event
    reads exactly as `refresh_events` (the summary from all its deliveries) then writes it."""
    flag = tmp_path / "fail"
    flag.write_text("1")
    envelope = _publish(Ping(key="summary", fail_flag=str(flag)))
    fields = ("status", "attempts", "last_error", "next_attempt_at", "delivered_at")

    def summary_then_refreshed():
        written = OutboxEvent.objects.using("inventory").values(*fields).get(id=envelope.id)
        relay.refresh_events("inventory", [envelope.id])
        refreshed = OutboxEvent.objects.using("inventory").values(*fields).get(id=envelope.id)
        if written["delivered_at"] is not None:  # "now" of each write
            assert refreshed["delivered_at"] is not None
            written["delivered_at"] = refreshed["delivered_at"] = "set"
        return written, refreshed

    written, refreshed = summary_then_refreshed()
    assert written == refreshed
    assert written["status"] == OutboxEvent.Status.PENDING and "told to fail" in written["last_error"]
    assert written["attempts"] == 1 and written["delivered_at"] is None
    flag.unlink()
    assert relay.drain(now=timezone.now() + timedelta(seconds=3)).handled == 1
    written, refreshed = summary_then_refreshed()
    assert {**written, "next_attempt_at": None} == {**refreshed, "next_attempt_at": None}
    assert written["status"] == OutboxEvent.Status.DELIVERED and written["last_error"] == ""
    assert written["attempts"] == 2 and written["delivered_at"] == "set"


def test_embedded_delivery_never_touches_a_broker(monkeypatch):
    from pos.events import tasks

    def no_broker(*args, **kwargs):
        raise AssertionError("embedded mode must not use the broker")

    monkeypatch.setattr(tasks.deliver, "apply_async", no_broker)
    monkeypatch.setattr(tasks.deliver, "delay", no_broker)
    _publish(Ping(key="local"))
    assert len(support.effects("pos_core")) == 1


def test_delivery_into_a_database_with_an_open_transaction_waits_for_its_commit():
    with transaction.atomic(using="pos_core"):
        envelope = _publish(Ping(key="nested"))
        # restaurant has no open transaction: delivered at the publisher's commit
        assert len(support.effects("restaurant")) == 1
        assert _deliveries(envelope.id)["evt_test.effect_pos_core"].status == EventDelivery.Status.PENDING
    assert len(support.effects("pos_core")) == 1
    assert _deliveries(envelope.id)["evt_test.effect_pos_core"].status == EventDelivery.Status.DELIVERED


def test_broker_down_at_commit_accepts_the_change_and_the_sweep_delivers_later(settings, monkeypatch):
    from kombu.exceptions import OperationalError

    from pos.events import tasks

    settings.EVENTS_IN_PROCESS = False  # service mode's relay

    calls = 0

    def broker_down(*args, **kwargs):
        nonlocal calls
        calls += 1
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.deliver, "apply_async", broker_down)
    envelopes = [_publish(Ping(key=f"down-{n}")) for n in range(3)]  # every commit succeeds
    assert calls == 1  # after the first failure the relay stops asking the broker for a while
    assert OutboxEvent.objects.using("inventory").filter(status=OutboxEvent.Status.PENDING).count() == 3
    # The sweep cannot send either; it leaves the rows ready for the next sweep.
    assert relay.sweep(["inventory"], now=timezone.now() + timedelta(seconds=5)) == {"inventory": 0}
    assert not EventDelivery.objects.using("inventory").filter(enqueued_at__isnull=False).exists()

    monkeypatch.undo()  # the broker is back (and the relay's cool-down after the failure is over)
    relay.reset_process_state()
    sent = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: sent.append(args))
    assert relay.sweep(["inventory"], now=timezone.now() + timedelta(seconds=5)) == {"inventory": 3}
    assert sorted(e for _, e in sent) == sorted(str(e.id) for e in envelopes)
    # A second sweep does not send the same rows again while their tasks are queued.
    assert relay.sweep(["inventory"], now=timezone.now() + timedelta(seconds=6)) == {"inventory": 0}
    for _, event_id in sent:  # what the worker runs
        tasks.deliver.run("inventory", event_id)
    assert len(support.effects("pos_core")) == 3 and len(support.effects("restaurant")) == 3


def test_drain_joins_an_open_test_transaction():
    # Non-transactional tests never commit; drain() is how they deliver what they published.
    with transaction.atomic(using="pos_core"), transaction.atomic(using="inventory"):
        publish(Ping(key="drained"), tenant_id=TENANT, using="inventory")
        assert relay.drain().delivered == 2
        assert len(support.effects("pos_core")) == 1


@pytest.mark.postgres
def test_claims_skip_rows_locked_by_another_relay():
    if connections["inventory"].vendor != "postgresql":
        pytest.skip("SKIP LOCKED needs PostgreSQL; SQLite serialises writers instead")
    with transaction.atomic(using="pos_core"), transaction.atomic(using="inventory"):
        envelope = publish(Ping(key="locked"), tenant_id=TENANT, using="inventory")
    # publish committed with pos_core open: pos_core's delivery waits; restaurant's is delivered.
    result = {}
    locked = threading.Event()
    release = threading.Event()

    def hold_lock():
        with transaction.atomic(using="inventory"):
            list(EventDelivery.objects.using("inventory").select_for_update().filter(event_id=envelope.id))
            locked.set()
            release.wait(5)
        connections["inventory"].close()

    def other_relay():
        locked.wait(5)
        result["claimed"] = relay.claim("inventory", event_id=envelope.id)[1]
        release.set()
        connections["inventory"].close()

    threads = [threading.Thread(target=hold_lock), threading.Thread(target=other_relay)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert result["claimed"] == []  # skipped, not blocked


def test_the_sweep_sends_no_copies_while_the_tasks_it_sent_wait_in_the_queue(settings, monkeypatch):
    from pos.events import tasks

    settings.EVENTS_IN_PROCESS = False
    sent = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: sent.append(args))
    envelope = _publish(Ping(key="queued"))
    assert sent == [("inventory", str(envelope.id))]
    EventDelivery.objects.using("inventory").update(enqueued_at=timezone.now())  # as the sweep marks what it sent
    later = timezone.now() + timedelta(milliseconds=settings.EVENTS_REENQUEUE_MS + 1000)

    monkeypatch.setattr(relay, "tasks_waiting", lambda: True)  # no worker has taken it: no copy
    assert relay.sweep(["inventory"], now=later) == {"inventory": 0}
    fresh = _publish(Ping(key="never-sent"))
    EventDelivery.objects.using("inventory").filter(event_id=fresh.id).update(enqueued_at=None)
    assert relay.sweep(["inventory"], now=later) == {"inventory": 1}  # what was never sent still goes
    assert sent[-1] == ("inventory", str(fresh.id))

    monkeypatch.setattr(relay, "tasks_waiting", lambda: False)  # the queue is empty: the task was lost, resend
    assert relay.sweep(["inventory"], now=later + timedelta(milliseconds=settings.EVENTS_REENQUEUE_MS + 1000)) == {
        "inventory": 2}


def test_events_committed_together_go_to_the_broker_as_one_task_and_are_delivered_once(settings, monkeypatch):
    from pos.events import tasks

    settings.EVENTS_IN_PROCESS = False  # service mode's relay
    sent = []
    monkeypatch.setattr(tasks.deliver_groups, "apply_async", lambda args, **kw: sent.append(args))
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: pytest.fail("one task per commit"))
    with relay.sent_together():
        first = _publish(Ping(key="together-1"))
        with relay.sent_together():  # nested: joins the outer block
            second = _publish(Ping(key="together-2"), using="payment")
        assert sent == []  # held until the block ends
    assert sent == [({"inventory": [str(first.id)], "payment": [str(second.id)]},)]
    tasks.deliver_groups.run(*sent[0])  # what the worker runs
    tasks.deliver_groups.run(*sent[0])  # and a second run (a redelivered task) changes nothing
    assert sorted(note for _, _, note, _ in support.effects("pos_core")) == ["together-1", "together-2"]
    assert OutboxEvent.objects.using("inventory").get(pk=first.id).status == OutboxEvent.Status.DELIVERED
    assert OutboxEvent.objects.using("payment").get(pk=second.id).status == OutboxEvent.Status.DELIVERED


def test_events_held_by_a_block_that_fails_are_still_sent_and_a_broker_down_leaves_them_to_the_sweep(settings,
                                                                                                   monkeypatch):
    from kombu.exceptions import OperationalError

    from pos.events import tasks

    settings.EVENTS_IN_PROCESS = False
    sent = []
    monkeypatch.setattr(tasks.deliver_groups, "apply_async", lambda args, **kw: sent.append(args))
    with pytest.raises(RuntimeError), relay.sent_together():
        committed = _publish(Ping(key="before-failure"))
        raise RuntimeError("the work failed after a commit")
    assert sent == [({"inventory": [str(committed.id)]},)]

    def broker_down(*args, **kwargs):
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.deliver_groups, "apply_async", broker_down)
    with relay.sent_together():
        stranded = _publish(Ping(key="broker-down"))  # the commit succeeds; the send fails quietly
    relay.reset_process_state()
    swept = []
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: swept.append(args))
    assert relay.sweep(["inventory"], now=timezone.now() + timedelta(seconds=5)) == {"inventory": 2}
    assert {event_id for _, event_id in swept} == {str(committed.id), str(stranded.id)}
