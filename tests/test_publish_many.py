"""`publish_many`: a batch of events recorded with one statement for the events and their deliveries on
PostgreSQL (one INSERT for each elsewhere), with the guarantees of `publish` (commit or roll back with the
change, delivered once to every subscriber)."""

from __future__ import annotations

import uuid

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext

from pos.events import PublishOutsideTransaction, publish_many
from pos.models import EventDelivery, OutboxEvent
from tests import events_support as support
from tests.events_support import Ping, Unheard

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e0e1")


@pytest.fixture(autouse=True)
def _in_process(settings):
    settings.EVENTS_IN_PROCESS = True
    support.create_effect_tables()


def test_a_batch_is_one_statement_and_each_event_is_delivered_once_to_each_subscriber():
    events = [Ping(key=f"k{n}") for n in range(25)] + [Unheard(key="nobody")]
    with CaptureQueriesContext(connections["inventory"]) as queries, transaction.atomic(using="inventory"):
        envelopes = publish_many(events, tenant_id=TENANT, using="inventory")
        writes = [q["sql"] for q in queries if q["sql"].removeprefix("BEGIN; ").startswith(("INSERT", "WITH"))]
    assert len(writes) == (1 if connections["inventory"].vendor == "postgresql" else 2) and len(envelopes) == 26
    assert sorted(note for _, _, note, _ in support.effects("pos_core")) == sorted(f"k{n}" for n in range(25))
    assert len(support.effects("restaurant")) == 25
    assert set(OutboxEvent.objects.using("inventory").values_list("status", flat=True)) == {"delivered"}
    assert EventDelivery.objects.using("inventory").filter(status="delivered").count() == 50


def test_a_rolled_back_batch_publishes_nothing_and_outside_a_transaction_is_refused():
    with pytest.raises(RuntimeError), transaction.atomic(using="inventory"):
        publish_many([Ping(key="a"), Ping(key="b")], tenant_id=TENANT, using="inventory")
        raise RuntimeError("the change failed")
    with pytest.raises(PublishOutsideTransaction):
        publish_many([Ping(key="c")], tenant_id=TENANT, using="inventory")
    assert not OutboxEvent.objects.using("inventory").exists()
    assert support.effects("pos_core") == []
    with transaction.atomic(using="inventory"):
        assert publish_many([], tenant_id=TENANT, using="inventory") == []


def test_in_service_mode_a_batch_goes_to_the_broker_as_one_task_per_200_events(settings, monkeypatch):
    from pos.events import tasks

    settings.EVENTS_IN_PROCESS = False
    sent = []
    monkeypatch.setattr(tasks.deliver_batch, "apply_async", lambda args, **kw: sent.append(args))
    monkeypatch.setattr(tasks.deliver, "apply_async", lambda args, **kw: pytest.fail("one task per event"))
    with transaction.atomic(using="inventory"):
        envelopes = publish_many([Ping(key=f"k{n}") for n in range(450)], tenant_id=TENANT, using="inventory")
    assert [len(ids) for _, ids in sent] == [200, 200, 50]
    assert [event_id for _, ids in sent for event_id in ids] == [str(e.id) for e in envelopes]
    assert support.effects("pos_core") == []  # nothing delivered until a worker runs the tasks

    for using, ids in sent:  # what the worker does; a task run twice has no second effect
        tasks.deliver_batch.run(using, ids)
    tasks.deliver_batch.run(*sent[0])
    assert sorted(note for _, _, note, _ in support.effects("pos_core")) == sorted(f"k{n}" for n in range(450))
    assert len(support.effects("restaurant")) == 450
    assert set(OutboxEvent.objects.using("inventory").values_list("status", flat=True)) == {"delivered"}
