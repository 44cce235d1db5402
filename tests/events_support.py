"""Test-only events and handlers for the event backbone's tests. A real worker imports this module too
(EVENTS_HANDLER_MODULES=tests.events_support), so both sides know the same schema and handlers.

Handlers write their effect to a plain table (`evt_test_effect`) in their consumer database, inside the
delivery transaction: an effect that is counted once was applied once."""

from __future__ import annotations

import os
import time

from django.db import connections

from pos import tenancy
from pos.contracts import Envelope, event
from pos.events import subscribe

EFFECT_TABLE = "evt_test_effect"
CONSUMERS = ("pos_core", "restaurant")


@event("evt_test.ping", version=1)
class Ping:
    key: str
    fail_flag: str = ""  # while this file exists, the pos_core handler fails
    pause_flag: str = ""  # the pos_core handler creates this file, then pauses (once) for pause_ms
    pause_ms: int = 0


@event("evt_test.unheard", version=1)
class Unheard:
    key: str


def _record(alias: str, handler: str, envelope: Envelope) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"INSERT INTO {EFFECT_TABLE} (handler, event_id, note, tenant) VALUES (%s, %s, %s, %s)",  # noqa: S608
                       [handler, str(envelope.id), envelope.payload.key, str(tenancy.current_tenant_id())])


@subscribe("evt_test.ping", using="pos_core", name="evt_test.effect_pos_core")
def effect_pos_core(envelope: Envelope) -> None:
    ping: Ping = envelope.payload
    _record("pos_core", "evt_test.effect_pos_core", envelope)
    if ping.pause_flag and not os.path.exists(ping.pause_flag):
        with open(ping.pause_flag, "w") as marker:
            marker.write(str(os.getpid()))
        time.sleep(ping.pause_ms / 1000)
    if ping.fail_flag and os.path.exists(ping.fail_flag):
        raise RuntimeError(f"evt_test handler told to fail ({ping.key})")


@subscribe("evt_test.ping", using="restaurant", name="evt_test.effect_restaurant")
def effect_restaurant(envelope: Envelope) -> None:
    _record("restaurant", "evt_test.effect_restaurant", envelope)


def create_effect_tables() -> None:
    for alias in CONSUMERS:
        with connections[alias].cursor() as cursor:
            cursor.execute(f"CREATE TABLE IF NOT EXISTS {EFFECT_TABLE} "
                           "(handler varchar(200), event_id varchar(64), note varchar(200), tenant varchar(64))")
            cursor.execute(f"DELETE FROM {EFFECT_TABLE}")  # noqa: S608


def effects(alias: str, handler: str | None = None) -> list[tuple[str, str, str, str]]:
    with connections[alias].cursor() as cursor:
        cursor.execute(f"SELECT handler, event_id, note, tenant FROM {EFFECT_TABLE}")  # noqa: S608
        rows = [tuple(r) for r in cursor.fetchall()]
    return [r for r in rows if handler is None or r[0] == handler]
