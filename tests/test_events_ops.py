"""Operating the event backbone: `manage.py events` (stats, list, inspect, replay, sweep) and the dead-letter
admin with its replay action. Deliveries run in-process here (both modes)."""

from __future__ import annotations

import io
import json
import uuid

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction

from pos.events import publish
from pos.models import EventDelivery, OutboxEvent
from tests import events_support as support
from tests.events_support import Ping

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e2e2")
OTHER_TENANT = uuid.UUID("7d1c3a52-0000-4000-8000-00000000e3e3")


@pytest.fixture(autouse=True)
def _setup(settings):
    settings.EVENTS_IN_PROCESS = True
    settings.EVENTS_MAX_ATTEMPTS = 1  # the first failure dead-letters: these tests are about operating them
    support.create_effect_tables()


def _publish(ping: Ping, tenant=TENANT) -> uuid.UUID:
    with transaction.atomic(using="inventory"):
        return publish(ping, tenant_id=tenant, using="inventory").id


def run(*args) -> str:
    out = io.StringIO()
    call_command("events", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def dead_event(tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    event_id = _publish(Ping(key="ops-dead", fail_flag=str(flag)))
    assert EventDelivery.objects.using("inventory").get(
        event_id=event_id, handler_name="evt_test.effect_pos_core").status == EventDelivery.Status.DEAD
    return event_id, flag


def test_stats_show_backlog_oldest_pending_and_dead_letters_per_database(dead_event):
    _publish(Ping(key="ok"))
    out = run("stats")
    lines = {line.split()[0]: line.split() for line in out.splitlines()[1:] if line and not line.startswith("Total")}
    assert set(lines) == {"default", "inventory", "pos_core", "payment", "restaurant"}
    _database, events, pending, oldest, dead, deliveries = lines["inventory"]
    assert (events, pending, oldest, dead, deliveries) == ("2", "0", "-", "1", "4")
    assert "1 dead letters" in out


def test_list_filters_by_status_and_prints_json(dead_event):
    event_id, _ = dead_event
    _publish(Ping(key="fine"))
    out = run("list", "--status", "dead", "--database", "inventory")
    assert str(event_id) in out and "1 event(s)." in out
    rows = [json.loads(line) for line in run("list", "--json", "--name", "evt_test.ping").splitlines()]
    assert len(rows) == 2
    dead = next(r for r in rows if r["id"] == str(event_id))
    assert dead["status"] == "dead" and dead["deliveries"] == {"dead": 1, "delivered": 1}


def test_inspect_shows_payload_deliveries_and_last_error(dead_event):
    event_id, _ = dead_event
    out = run("inspect", str(event_id))
    assert "database inventory" in out and '"key": "ops-dead"' in out
    assert "evt_test.effect_pos_core -> pos_core: dead, attempts 1" in out
    assert "RuntimeError: evt_test handler told to fail (ops-dead)" in out
    assert "evt_test.effect_restaurant -> restaurant: delivered" in out


@pytest.mark.parametrize("args, message", [
    (["inspect", "not-a-uuid"], "not a valid event id"),
    (["inspect", "00000000-0000-4000-8000-000000000000"], "No event"),
    (["replay"], "Say what to replay"),
    (["replay", "--since", "yesterday-ish"], "Cannot read the time"),
    (["stats", "--database", "warehouse"], "Unknown database alias: warehouse"),
    (["replay", "--id", "00000000-0000-4000-8000-000000000000"], "No event"),
    (["list", "--limit", "0"], "--limit must be at least 1"),
])
def test_mistakes_are_clear_errors(args, message):
    with pytest.raises(CommandError, match=message):
        run(*args)


def test_replay_by_id_once_fixed_and_dry_run_changes_nothing(dead_event):
    event_id, flag = dead_event
    out = run("replay", "--id", str(event_id), "--dry-run")
    assert "inventory: would replay 1 delivery" in out
    assert OutboxEvent.objects.using("inventory").get(id=event_id).status == OutboxEvent.Status.DEAD

    flag.unlink()
    out = run("replay", "--id", str(event_id))
    assert "Done: 1 deliveries resubmitted." in out
    assert OutboxEvent.objects.using("inventory").get(id=event_id).status == OutboxEvent.Status.DELIVERED
    assert len(support.effects("pos_core")) == 1
    assert len(support.effects("restaurant")) == 1  # the delivered handler was not replayed


def test_replay_by_type_and_time_range(tmp_path):
    flag = tmp_path / "fail"
    flag.write_text("1")
    first = _publish(Ping(key="a", fail_flag=str(flag)))
    second = _publish(Ping(key="b", fail_flag=str(flag)))
    flag.unlink()
    assert "Done: 0 deliveries resubmitted." in run("replay", "--name", "evt_test.ping", "--until", "1d")
    out = run("replay", "--name", "evt_test.ping", "--since", "10m", "--handler", "evt_test.effect_pos_core")
    assert "Done: 2 deliveries resubmitted." in out
    assert {r[1] for r in support.effects("pos_core")} == {str(first), str(second)}


def test_replay_including_delivered_has_no_second_effect():
    event_id = _publish(Ping(key="again"))
    out = run("replay", "--id", str(event_id), "--include-delivered")
    assert "Done: 2 deliveries resubmitted." in out
    assert len(support.effects("pos_core")) == 1 and len(support.effects("restaurant")) == 1


def test_replay_keeps_the_delivery_history(dead_event, settings):
    event_id, flag = dead_event
    dead = EventDelivery.objects.using("inventory").get(event_id=event_id, handler_name="evt_test.effect_pos_core")
    delivered = EventDelivery.objects.using("inventory").get(event_id=event_id,
                                                            handler_name="evt_test.effect_restaurant")
    first_delivered = delivered.first_delivered_at
    assert first_delivered is not None and dead.first_delivered_at is None

    # Replayed while still broken: the failed attempt adds to the history and the budget starts again.
    run("replay", "--id", str(event_id))
    dead.refresh_from_db()
    assert (dead.status, dead.attempts, dead.attempts_at_replay) == ("dead", 2, 1)
    first_replay = dead.replayed_at
    flag.unlink()
    run("replay", "--id", str(event_id), "--include-delivered")
    dead.refresh_from_db()
    delivered.refresh_from_db()
    assert (dead.status, dead.attempts, dead.attempts_at_replay) == ("delivered", 3, 2)
    assert dead.replayed_at > first_replay
    assert dead.first_delivered_at == dead.delivered_at and dead.replayed_at is not None
    assert "told to fail" not in dead.last_error
    # The delivery that had succeeded keeps its first delivery time and counts the replay's attempt.
    assert (delivered.attempts, delivered.attempts_at_replay, delivered.first_delivered_at) == (2, 1, first_delivered)
    assert delivered.delivered_at > first_delivered
    out = run("inspect", str(event_id))
    assert f"first delivered {first_delivered.isoformat()}" in out
    assert f"last replayed {dead.replayed_at.isoformat()} (after 2 attempts)" in out


def test_sweep_delivers_what_is_due(settings):
    settings.EVENTS_IN_PROCESS = False
    from pos.events import relay, tasks

    sent = []
    original = tasks.deliver.apply_async
    tasks.deliver.apply_async = lambda args, **kw: sent.append(args)  # the broker accepts, no worker runs
    try:
        event_id = _publish(Ping(key="swept"))
    finally:
        tasks.deliver.apply_async = original
    assert sent and not support.effects("pos_core")
    settings.EVENTS_IN_PROCESS = True
    relay.reset_process_state()
    assert "inventory: 2 delivered" in run("sweep", "--database", "inventory")
    assert OutboxEvent.objects.using("inventory").get(id=event_id).status == OutboxEvent.Status.DELIVERED


def test_admin_lists_dead_letters_and_replays_them(dead_event, admin_client):
    event_id, flag = dead_event
    url = "/admin/pos/eventdelivery/"
    page = admin_client.get(url, {"db": "inventory", "status__exact": "dead"})
    assert page.status_code == 200
    assert b"told to fail" in page.content
    assert [d.handler_name for d in page.context_data["cl"].result_list] == ["evt_test.effect_pos_core"]
    everything = admin_client.get(url, {"db": "inventory"}).context_data["cl"].result_list
    assert len(everything) == 2
    assert list(admin_client.get(url, {"db": "pos_core"}).context_data["cl"].result_list) == []  # other database

    dead = EventDelivery.objects.using("inventory").get(event_id=event_id, status=EventDelivery.Status.DEAD)
    detail = admin_client.get(f"{url}{dead.id}/change/")
    assert detail.status_code == 200 and b"ops-dead" in detail.content

    flag.unlink()
    response = admin_client.post(f"{url}?db=inventory", {"action": "replay_selected", "_selected_action": [str(dead.id)]})
    assert response.status_code == 302
    assert OutboxEvent.objects.using("inventory").get(id=event_id).status == OutboxEvent.Status.DELIVERED
    assert len(support.effects("pos_core")) == 1


def test_admin_scopes_deliveries_to_the_tenant_in_scope(dead_event):
    from django.contrib import admin as django_admin
    from django.test import RequestFactory

    from pos import tenancy
    from pos.events.admin import EventDeliveryAdmin

    _publish(Ping(key="other"), tenant=OTHER_TENANT)
    model_admin = EventDeliveryAdmin(EventDelivery, django_admin.site)
    request = RequestFactory().get("/admin/pos/eventdelivery/", {"db": "inventory"})
    dead = EventDelivery.objects.using("inventory").get(event_id=dead_event[0], status=EventDelivery.Status.DEAD)
    with tenancy.tenant_context(OTHER_TENANT):  # what the middleware sets for a staff user of that restaurant
        rows = list(model_admin.get_queryset(request))
        assert model_admin.get_object(request, str(dead.id)) is None
    assert len(rows) == 2 and {r.tenant_id for r in rows} == {OTHER_TENANT}
    assert list(model_admin.get_queryset(request)) == []  # no tenant in scope: nothing
    with tenancy.all_tenants():
        assert model_admin.get_object(request, str(dead.id)) == dead
