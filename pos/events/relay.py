"""Hands committed outbox rows to their subscribers, one `EventDelivery` (event, handler) at a time.

Paths to a handler, all through the same claim -> deliver -> inbox steps:
- after commit: embedded mode delivers in-process at once; service mode enqueues `pos.events.deliver`
  (a broker that is down is logged and left to the sweep: the business transaction has already committed);
- the periodic sweep (`pos.events.sweep`, or `manage.py events sweep`) picks up rows left behind: never
  enqueued, failed and due for a retry, or claimed by a worker that died;
- replay (admin action, `manage.py events replay`) turns dead deliveries back into pending ones.

A relay claims rows before delivering them: `SELECT ... FOR UPDATE SKIP LOCKED` on PostgreSQL, then a
lease (`claimed_until`, `claim_token`) written by a conditional UPDATE, which is also the whole mechanism on
SQLite (whose IMMEDIATE transactions serialise writers). Two relays never deliver the same row at once; a
relay that dies leaves a lease that expires, and the row is delivered again. The consumer's inbox makes that
second delivery harmless.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import logging
import threading
import time
import traceback
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from pos import logging as pos_logging
from pos.contracts import Envelope, schema_for
from pos.db.durability import alone_without_waiting_for_the_disk, without_waiting_for_the_disk
from pos.db.returning import columns, from_row
from pos.events.registry import Subscription, subscriptions_for
from pos.modules import module_aliases
from pos.tenancy import tenant_context

logger = logging.getLogger("pos.events")

_last_sweep: dict[str, int] = {}  # alias -> monotonic ns
_sweep_lock = threading.Lock()


class HandlerNotRegistered(LookupError):
    """A delivery names a handler this process does not know (removed or renamed)."""


@dataclass
class DeliveryReport:
    delivered: int = 0
    duplicates: int = 0
    failed: int = 0
    dead: int = 0
    deferred: int = 0
    event_ids: set[uuid.UUID] = field(default_factory=set)

    def add(self, other: DeliveryReport) -> None:
        self.delivered += other.delivered
        self.duplicates += other.duplicates
        self.failed += other.failed
        self.dead += other.dead
        self.deferred += other.deferred
        self.event_ids |= other.event_ids

    @property
    def handled(self) -> int:
        return self.delivered + self.duplicates + self.failed + self.dead


def reset_process_state() -> None:
    """Forget this process's broker cool-down and sweep times (tests, after a fork)."""
    global _broker_down_until
    _broker_down_until = 0
    _last_sweep.clear()


def warm_up() -> None:
    """Connect to every module database and the cache, and run the relay's claim once (claiming nothing), so a
    worker process's first delivery pays no connection or first-statement cost. Never raises: a database
    that is down now is connected to at the first task, as always."""
    from django.core.cache import cache

    started = time.perf_counter()
    for alias in module_aliases():
        try:
            claim(alias, event_id=uuid.uuid4(), limit=1)
        except Exception as exc:  # noqa: BLE001 - warming up only
            logger.warning("worker warm-up: %s not reachable: %s", alias, exc, extra={"database": alias})
            connections[alias].close()
    try:
        cache.get("pos:warm-up")
    except Exception as exc:  # noqa: BLE001
        logger.warning("worker warm-up: cache not reachable: %s", exc)
    logger.info("worker process warmed up in %.1f ms", (time.perf_counter() - started) * 1000)


def in_process() -> bool:
    return settings.EVENTS_IN_PROCESS


# --- After commit -----------------------------------------------------------------------------------------

_held: contextvars.ContextVar[list[tuple[str, uuid.UUID]] | None] = contextvars.ContextVar("held_events",
                                                                                             default=None)


@contextlib.contextmanager
def sent_together() -> Iterator[None]:
    """In service mode, the events committed inside the block (on any module database) go to the broker when it
    ends, as one `pos.events.deliver_groups` task, instead of one task per commit: an order placement commits
    on three databases and would otherwise pay for four broker calls. Their delivery waits for the block's end
    (the rest of the placement); a process that dies inside the block leaves them pending for the sweep, as a
    broker that is down does. Embedded mode delivers in-process at once, as always. Nested blocks join the
    outer one."""
    if _held.get() is not None or in_process():
        yield
        return
    held: list[tuple[str, uuid.UUID]] = []
    token = _held.set(held)
    try:
        yield
    finally:
        _held.reset(token)
        if held:
            try:
                enqueue_groups(held)
            except Exception:  # committed already; what is left pending is swept
                logger.exception("Event relay failed after commit; the sweep will retry.",
                                 extra={"event_count": len(held)})


def after_commit(using: str, event_id: uuid.UUID) -> None:
    """Called once the publishing transaction has committed. Never raises: the business change is committed,
    and whatever fails here is retried by the sweep."""
    try:
        if in_process():
            deliver_event(using, event_id)
            _maybe_sweep_in_process(using)
        elif (held := _held.get()) is not None:
            held.append((using, event_id))
        else:
            enqueue(using, [event_id])
    except Exception:  # the request has committed; the row stays pending for the sweep
        logger.exception("Event relay failed after commit; the sweep will retry.",
                         extra={"event_id": str(event_id), "database": using})


BATCH_TASK_EVENTS = 200  # events per `pos.events.deliver_batch` task


def after_commit_many(using: str, event_ids: list[uuid.UUID]) -> None:
    """`after_commit` for the events of one batch (`publish_many`): in service mode one broker call per
    BATCH_TASK_EVENTS events (a 1,000-product import publishes thousands), in embedded mode in-process delivery.
    Never raises."""
    try:
        if in_process():
            for event_id in event_ids:
                deliver_event(using, event_id)
            _maybe_sweep_in_process(using)
        elif (held := _held.get()) is not None:
            held.extend((using, event_id) for event_id in event_ids)
        else:
            enqueue_batches(using, event_ids)
    except Exception:  # committed already; what is left pending is swept
        logger.exception("Event relay failed after commit; the sweep will retry.",
                         extra={"event_count": len(event_ids), "database": using})


_broker_down_until = 0  # monotonic ns; a broker that just failed is not asked again for a while (per process)


def enqueue(using: str, event_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """Send one `pos.events.deliver` task per event. Returns the ids that reached the broker. A broker error
    is logged, never raised (the rows stay pending for the sweep); for EVENTS_BROKER_COOLDOWN_MS after
    it, this process does not try again, so requests committed during an outage do not wait on the broker."""
    global _broker_down_until
    from pos.events.tasks import deliver

    sent: list[uuid.UUID] = []
    event_ids = list(event_ids)
    if event_ids and time.monotonic_ns() < _broker_down_until:
        logger.info("Broker recently down: %s event(s) left to the sweep.", len(event_ids), extra={"database": using})
        return sent
    for event_id in event_ids:
        try:
            deliver.apply_async(args=(using, str(event_id)), retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: kombu and redis raise several types
            _broker_down_until = time.monotonic_ns() + settings.EVENTS_BROKER_COOLDOWN_MS * 1_000_000
            logger.warning("Could not enqueue event %s (%s); the sweep will send it.", event_id, exc,
                           extra={"event_id": str(event_id), "database": using})
            break
        sent.append(event_id)
    return sent


def enqueue_batches(using: str, event_ids: Iterable[uuid.UUID]) -> list[uuid.UUID]:
    """`enqueue` for many events at once: one `pos.events.deliver_batch` task per BATCH_TASK_EVENTS events.
    Returns the ids that reached the broker; the rest stay pending for the sweep (which sends them one by one)."""
    global _broker_down_until
    from pos.events.tasks import deliver_batch

    event_ids = list(event_ids)
    sent: list[uuid.UUID] = []
    if event_ids and time.monotonic_ns() < _broker_down_until:
        logger.info("Broker recently down: %s event(s) left to the sweep.", len(event_ids), extra={"database": using})
        return sent
    for first in range(0, len(event_ids), BATCH_TASK_EVENTS):
        chunk = event_ids[first:first + BATCH_TASK_EVENTS]
        try:
            deliver_batch.apply_async(args=(using, [str(event_id) for event_id in chunk]), retry=False)
        except Exception as exc:  # noqa: BLE001 - broker down: kombu and redis raise several types
            _broker_down_until = time.monotonic_ns() + settings.EVENTS_BROKER_COOLDOWN_MS * 1_000_000
            logger.warning("Could not enqueue %s events (%s); the sweep will send them.", len(event_ids) - first,
                           exc, extra={"database": using})
            break
        sent.extend(chunk)
    return sent


def enqueue_groups(events: list[tuple[str, uuid.UUID]]) -> bool:
    """One `pos.events.deliver_groups` task for events of several databases ((alias, event id) pairs). True when
    the broker took it; a broker error is logged, never raised (the rows stay pending for the sweep)."""
    global _broker_down_until
    from pos.events.tasks import deliver_groups

    if time.monotonic_ns() < _broker_down_until:
        logger.info("Broker recently down: %s event(s) left to the sweep.", len(events))
        return False
    groups: dict[str, list[str]] = {}
    for using, event_id in events:
        groups.setdefault(using, []).append(str(event_id))
    try:
        # The task's description for the worker's log, written here: Celery's own (a safe repr of the ids) costs
        # more CPU than the rest of building the message.
        deliver_groups.apply_async(args=(groups,), retry=False, kwargsrepr="{}", argsrepr=", ".join(
            f"{using}: {len(ids)} event(s)" for using, ids in groups.items()))
    except Exception as exc:  # noqa: BLE001 - broker down: kombu and redis raise several types
        _broker_down_until = time.monotonic_ns() + settings.EVENTS_BROKER_COOLDOWN_MS * 1_000_000
        logger.warning("Could not enqueue %s events (%s); the sweep will send them.", len(events), exc)
        return False
    return True


def _maybe_sweep_in_process(using: str) -> None:
    """Embedded mode has no beat: retries that fell due are delivered when traffic passes by."""
    now = time.monotonic_ns()
    with _sweep_lock:
        if now - _last_sweep.get(using, 0) < settings.EVENTS_SWEEP_MS * 1_000_000:
            return
        _last_sweep[using] = now
    deliver_due(using)


# --- Claiming ----------------------------------------------------------------------------------------------

@contextlib.contextmanager
def bookkeeping(using: str) -> Iterator[None]:
    """A transaction for the relay's own rows (claims, outcomes, event status). On PostgreSQL it does not wait
    for the WAL flush: losing such a write in a server crash only means a delivery is attempted again, which
    the consumer's inbox acknowledges without a second effect. The consumer's own transaction (inbox and
    effect) stays fully durable."""
    outermost = not connections[using].in_atomic_block
    with transaction.atomic(using=using):
        if outermost:
            without_waiting_for_the_disk(using)
        yield


def _due(using: str, now: datetime):
    from pos.models import EventDelivery

    return EventDelivery.objects.using(using).filter(
        status=EventDelivery.Status.PENDING, next_attempt_at__lte=now,
    ).filter(Q(claimed_until__isnull=True) | Q(claimed_until__lt=now))


def claim(using: str, *, now: datetime | None = None, event_id: uuid.UUID | None = None, limit: int = 100,
          exclude_consumers: Iterable[str] = (), event_ids: list[uuid.UUID] | None = None) -> tuple[uuid.UUID, list]:
    """Claim up to `limit` due deliveries in `using` for this relay (of one event, of some events, or any).
    Returns the claim token and the rows (with their events)."""
    from pos.models import EventDelivery

    now = now or timezone.now()
    token = uuid.uuid4()
    exclude_consumers = list(exclude_consumers)
    lease = {"claimed_until": now + timedelta(milliseconds=settings.EVENTS_CLAIM_MS), "claim_token": token}
    if connections[using].vendor == "postgresql":
        # One statement: UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED LIMIT n) RETURNING the rows,
        # joined with their events. Rows another relay is claiming are skipped, not waited for; the outer WHERE
        # re-checks `due` on the locked rows. A claim is the relay's own bookkeeping: one lost in a server crash
        # only means the row is delivered again.
        sql, params = _claim_sql(using, now=now, lease=lease, limit=limit, event_id=event_id, event_ids=event_ids,
                                 exclude_consumers=exclude_consumers)
        return token, _claimed_rows(using, bookkept(using, sql, params))
    due = _due(using, now)
    if event_id is not None:
        due = due.filter(event_id=event_id)
    if event_ids is not None:
        due = due.filter(event_id__in=event_ids)
    if exclude_consumers:
        due = due.exclude(consumer_alias__in=exclude_consumers)
    with transaction.atomic(using=using):  # SQLite: IMMEDIATE transactions serialise writers
        ids = list(due.order_by("next_attempt_at").values_list("id", flat=True)[:limit])
        # Conditional: a row another relay claimed in the meantime no longer matches `due`.
        claimed = due.filter(id__in=ids).update(**lease) if ids else 0
    if not claimed:
        return token, []
    rows = list(EventDelivery.objects.using(using).filter(claim_token=token).select_related("event"))
    return token, rows


def bookkept(using: str, sql: str, params: dict[str, Any]) -> list[tuple]:
    """Run one statement of the relay's own bookkeeping as `bookkeeping` does (a transaction of its own that
    does not wait for the WAL flush) and answer its rows: in one round trip where it can be
    (`alone_without_waiting_for_the_disk`), else in a transaction of four."""
    rows = alone_without_waiting_for_the_disk(using, sql, params)
    if rows is not None:
        return rows
    with bookkeeping(using), connections[using].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall() if cursor.description is not None else []


@functools.cache
def _names(using: str) -> dict[str, str]:
    """The relay's tables and the columns its own statements name, quoted (PostgreSQL): a delivery's by their
    field names, an event's prefixed `event_`."""
    from pos.models import EventDelivery, OutboxEvent

    quote = connections[using].ops.quote_name
    names = {name: quote(EventDelivery._meta.get_field(name).column) for name in (
        "id", "event", "status", "attempts", "next_attempt_at", "claimed_until", "claim_token", "last_error",
        "consumer_alias", "delivered_at", "first_delivered_at", "updated_at")}
    names.update({f"event_{name}": quote(OutboxEvent._meta.get_field(name).column) for name in (
        "id", "status", "attempts", "last_error", "next_attempt_at", "delivered_at")})
    return {**names, "deliveries": quote(EventDelivery._meta.db_table), "events": quote(OutboxEvent._meta.db_table)}


def _claim_sql(using: str, *, now: datetime, lease: dict, limit: int, event_id: uuid.UUID | None,
               event_ids: list[uuid.UUID] | None, exclude_consumers: list[str]) -> tuple[str, dict[str, Any]]:
    """The claim as one statement (PostgreSQL), answering the claimed deliveries joined with their events."""
    from pos.models import EventDelivery, OutboxEvent

    n = _names(using)
    due = (f"{n['status']} = %(pending)s AND {n['next_attempt_at']} <= %(now)s "
           f"AND ({n['claimed_until']} IS NULL OR {n['claimed_until']} < %(now)s)")
    if event_id is not None:
        due += f" AND {n['event']} = %(event_id)s"
    if event_ids is not None:
        due += f" AND {n['event']} = ANY(%(event_ids)s)"
    if exclude_consumers:
        due += f" AND NOT ({n['consumer_alias']} = ANY(%(exclude)s))"
    sql = (f"WITH claimed AS (UPDATE {n['deliveries']} SET {n['claimed_until']} = %(until)s, "  # noqa: S608 - names
           f"{n['claim_token']} = %(token)s WHERE {n['id']} IN (SELECT {n['id']} FROM {n['deliveries']} WHERE {due} "
           f"ORDER BY {n['next_attempt_at']} LIMIT %(limit)s FOR UPDATE SKIP LOCKED) AND {due} "
           f"RETURNING {columns(EventDelivery, using)}) "
           f"SELECT {columns(EventDelivery, using, 'claimed')}, {columns(OutboxEvent, using, 'e')} "
           f"FROM claimed JOIN {n['events']} e ON e.{n['event_id']} = claimed.{n['event']}")
    return sql, {"pending": EventDelivery.Status.PENDING.value, "now": now, "until": lease["claimed_until"],
                 "token": lease["claim_token"], "limit": limit, "event_id": event_id,
                 "event_ids": list(event_ids or []), "exclude": list(exclude_consumers)}


def _claimed_rows(using: str, found: list[tuple]) -> list:
    from pos.models import EventDelivery, OutboxEvent

    width = len(EventDelivery._meta.concrete_fields)
    claimed = []
    for row in found:
        delivery = from_row(EventDelivery, row[:width], using)
        delivery.event = from_row(OutboxEvent, row[width:], using)
        claimed.append(delivery)
    return claimed


# --- Delivering --------------------------------------------------------------------------------------------

def _subscription(event_name: str, handler_name: str) -> Subscription | None:
    return next((s for s in subscriptions_for(event_name) if s.handler_name == handler_name), None)


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: base, 2x base, 4x base, ... capped."""
    return timedelta(milliseconds=min(settings.EVENTS_RETRY_BASE_MS * 2 ** max(attempts - 1, 0),
                                      settings.EVENTS_RETRY_MAX_MS))


def envelope_of(event) -> Envelope:
    return Envelope(id=event.id, name=event.name, version=event.version, tenant_id=event.tenant_id,
                    occurred_at=event.occurred_at, payload=schema_for(event.name)(**event.payload))


def _record_in_inbox(alias: str, handler_name: str, event) -> bool:
    """Insert (handler, event id) in `alias`'s inbox. False when it is there already (handled before)."""
    from pos.models import InboxRecord

    connection = connections[alias]
    values = {"id": uuid.uuid4(), "handler_name": handler_name, "event_id": event.id, "event_name": event.name,
              "tenant_id": event.tenant_id, "handled_at": timezone.now()}
    if connection.vendor in ("postgresql", "sqlite"):
        # One statement instead of a savepoint, an insert and a rollback to the savepoint on a duplicate.
        meta = InboxRecord._meta
        columns = ", ".join(connection.ops.quote_name(meta.get_field(name).column) for name in values)
        params = [meta.get_field(name).get_db_prep_save(value, connection) for name, value in values.items()]
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {connection.ops.quote_name(meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
                f"VALUES ({', '.join(['%s'] * len(params))}) "
                "ON CONFLICT (handler_name, event_id) DO NOTHING RETURNING 1", params)
            return cursor.fetchone() is not None
    try:
        with transaction.atomic(using=alias):
            InboxRecord.objects.using(alias).create(**values)
    except IntegrityError:
        return False
    return True


def _apply(delivery) -> bool:
    """Run the handler in the consumer's transaction with its inbox record. False: already handled."""
    event = delivery.event
    sub = _subscription(event.name, delivery.handler_name)
    if sub is None:
        raise HandlerNotRegistered(f"No handler {delivery.handler_name!r} for {event.name!r} in this process.")
    envelope = envelope_of(event)
    with transaction.atomic(using=sub.using):
        if not _record_in_inbox(sub.using, sub.handler_name, event):
            return False  # delivered before: acknowledge with no second effect
        sub.fn(envelope)
    return True


def _deliver_claimed(using: str, token: uuid.UUID, delivery, report: DeliveryReport) -> None:
    from pos.models import EventDelivery

    event = delivery.event
    mine = EventDelivery.objects.using(using).filter(id=delivery.id, claim_token=token)
    started = time.perf_counter()
    with tenant_context(event.tenant_id), pos_logging.log_context(
            event_id=event.id, event_name=event.name, handler=delivery.handler_name):
        try:
            applied = _apply(delivery)
        except Exception as exc:  # noqa: BLE001 - any handler error is recorded and retried
            attempts = delivery.attempts + 1
            since_replay = attempts - delivery.attempts_at_replay
            dead = since_replay >= settings.EVENTS_MAX_ATTEMPTS
            error = "".join(traceback.format_exception(exc))[-4000:]
            now = timezone.now()
            with bookkeeping(using):
                mine.update(
                    attempts=attempts, last_error=error, claimed_until=None, claim_token=None, updated_at=now,
                    status=EventDelivery.Status.DEAD if dead else EventDelivery.Status.PENDING,
                    next_attempt_at=now + backoff(since_replay),
                )
                _refresh_events(using, [event.id])
            if dead:
                report.dead += 1
                logger.error("Event handler failed %s times; dead-lettered: %s", since_replay, exc,
                             extra={"attempts": attempts, "database": using})
            else:
                report.failed += 1
                logger.warning("Event handler failed (attempt %s of %s): %s", since_replay,
                               settings.EVENTS_MAX_ATTEMPTS, exc, extra={"attempts": attempts, "database": using})
        else:
            _delivered(using, token, delivery)
            if applied:
                report.delivered += 1
            else:
                report.duplicates += 1
            logger.debug("Event delivered in %.1f ms", (time.perf_counter() - started) * 1000,
                         extra={"duplicate": not applied, "database": using})
    report.event_ids.add(event.id)


def _delivered(using: str, token: uuid.UUID, delivery) -> None:
    """Record a delivery as delivered (if this relay's claim still holds it) and refresh its event's summary,
    as `_refresh_events` computes it, with the delivery's new values: one statement on PostgreSQL."""
    from pos.models import EventDelivery

    now = timezone.now()
    if connections[using].vendor != "postgresql":
        with bookkeeping(using):
            EventDelivery.objects.using(using).filter(id=delivery.id, claim_token=token).update(
                status=EventDelivery.Status.DELIVERED, delivered_at=now, attempts=delivery.attempts + 1,
                first_delivered_at=Coalesce(F("first_delivered_at"), Value(now)),
                last_error="", claimed_until=None, claim_token=None, updated_at=now)
            _refresh_events(using, [delivery.event_id])
        return
    n = _names(using)
    summary = f"{n['status']}, {n['attempts']}, {n['last_error']}, {n['next_attempt_at']}"
    bookkept(using, (
        f"WITH done AS (UPDATE {n['deliveries']} SET {n['status']} = %(delivered)s, "  # noqa: S608 - names
        f"{n['delivered_at']} = %(now)s, {n['attempts']} = %(attempts)s, "
        f"{n['first_delivered_at']} = COALESCE({n['first_delivered_at']}, %(now)s), {n['last_error']} = '', "
        f"{n['claimed_until']} = NULL, {n['claim_token']} = NULL, {n['updated_at']} = %(now)s "
        f"WHERE {n['id']} = %(id)s AND {n['claim_token']} = %(token)s RETURNING {n['id']}, {summary}), "
        # the event's deliveries as they now are: this one as just written, the others as they were
        f"rows AS (SELECT {summary} FROM done UNION ALL SELECT {summary} FROM {n['deliveries']} "
        f"WHERE {n['event']} = %(event)s AND {n['id']} NOT IN (SELECT {n['id']} FROM done)), "
        f"s AS (SELECT bool_or({n['status']} = %(pending)s) AS pending, bool_or({n['status']} = %(dead)s) AS dead, "
        f"max({n['attempts']}) AS attempts, coalesce(max(nullif({n['last_error']}, '')), '') AS last_error, "
        f"min({n['next_attempt_at']}) FILTER (WHERE {n['status']} = %(pending)s) AS next_at, count(*) AS n FROM rows) "
        f"UPDATE {n['events']} SET {n['event_status']} = CASE WHEN s.pending THEN %(pending)s WHEN s.dead THEN %(dead)s "
        f"ELSE %(delivered)s END, {n['event_attempts']} = s.attempts, {n['event_last_error']} = s.last_error, "
        f"{n['event_next_attempt_at']} = coalesce(s.next_at, %(now)s), "
        f"{n['event_delivered_at']} = CASE WHEN s.pending OR s.dead THEN NULL ELSE %(now)s END "
        f"FROM s WHERE {n['events']}.{n['event_id']} = %(event)s AND s.n > 0"),
        {"delivered": EventDelivery.Status.DELIVERED.value, "pending": EventDelivery.Status.PENDING.value,
         "dead": EventDelivery.Status.DEAD.value, "now": now, "attempts": delivery.attempts + 1, "id": delivery.id,
         "token": token, "event": delivery.event_id})


def refresh_events(using: str, event_ids: Iterable[uuid.UUID]) -> None:
    """Summarise each event's deliveries into its own status, attempts and last error."""

    event_ids = list(event_ids)
    if not event_ids:
        return
    with bookkeeping(using):
        _refresh_events(using, event_ids)


def _refresh_events(using: str, event_ids: list[uuid.UUID]) -> None:
    """Each event's status, attempts, last error and next attempt, from its deliveries (one read, one write
    per event: cheaper than one UPDATE with correlated subqueries)."""
    from pos.models import EventDelivery, OutboxEvent

    summary: dict[uuid.UUID, list[tuple]] = {}
    for row in EventDelivery.objects.using(using).filter(event_id__in=event_ids).values_list(
            "event_id", "status", "attempts", "last_error", "next_attempt_at"):
        summary.setdefault(row[0], []).append(row[1:])
    now = timezone.now()
    for event_id, rows in summary.items():
        statuses = {status for status, *_ in rows}
        pending = [next_at for status, _, _, next_at in rows if status == EventDelivery.Status.PENDING]
        if pending:
            status = OutboxEvent.Status.PENDING
        elif EventDelivery.Status.DEAD in statuses:
            status = OutboxEvent.Status.DEAD
        else:
            status = OutboxEvent.Status.DELIVERED
        OutboxEvent.objects.using(using).filter(id=event_id).update(
            status=status, attempts=max(attempts for _, attempts, _, _ in rows),
            last_error=next((error for _, _, error, _ in rows if error), ""),
            next_attempt_at=min(pending) if pending else now,
            delivered_at=now if status == OutboxEvent.Status.DELIVERED else None,
        )


def _busy_consumers() -> list[str]:
    """Aliases with an open transaction in this thread: delivering into them would tie the handler's effect
    to a transaction that may still roll back, so their deliveries wait for it to commit."""
    return [alias for alias in module_aliases() if connections[alias].in_atomic_block]


def deliver_event(using: str, event_id: uuid.UUID, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver the due deliveries of one event (what `pos.events.deliver` runs). Each handler is applied and
    recorded on its own: one failing handler does not hold back the others."""
    report = DeliveryReport()
    busy = _busy_consumers()
    token, rows = claim(using, now=now, event_id=event_id, exclude_consumers=busy)
    for delivery in rows:
        _deliver_claimed(using, token, delivery, report)
    if busy:
        report.deferred += _defer_to_commit(using, event_id, busy)
    return report


def deliver_events(using: str, event_ids: list[uuid.UUID]) -> DeliveryReport:
    """Deliver the due deliveries of several events (what `pos.events.deliver_batch` runs): claimed 100 at a
    time, each handler applied and recorded on its own as in `deliver_event`."""
    report = DeliveryReport()
    busy = _busy_consumers()
    while True:
        token, rows = claim(using, event_ids=event_ids, limit=100, exclude_consumers=busy)
        if not rows:
            break
        for delivery in rows:
            _deliver_claimed(using, token, delivery, report)
    for event_id in event_ids if busy else ():
        report.deferred += _defer_to_commit(using, event_id, busy)
    return report


def _defer_to_commit(using: str, event_id: uuid.UUID, busy: list[str]) -> int:
    from pos.models import EventDelivery

    waiting = set(EventDelivery.objects.using(using).filter(
        event_id=event_id, status=EventDelivery.Status.PENDING, consumer_alias__in=busy,
    ).values_list("consumer_alias", flat=True))
    for alias in waiting:
        transaction.on_commit(lambda: after_commit(using, event_id), using=alias)
    return len(waiting)


def deliver_due(using: str, *, now: datetime | None = None, limit: int | None = None,
                wait_for_open_transactions: bool = True) -> DeliveryReport:
    """Deliver, in this process, every delivery of `using` that is due (batch by batch)."""
    report = DeliveryReport()
    budget = limit if limit is not None else settings.EVENTS_SWEEP_BATCH
    busy = _busy_consumers() if wait_for_open_transactions else []
    while budget > 0:
        token, rows = claim(using, now=now, limit=min(budget, 100), exclude_consumers=busy)
        if not rows:
            break
        batch = DeliveryReport()
        for delivery in rows:
            _deliver_claimed(using, token, delivery, batch)
        report.add(batch)
        budget -= len(rows)
    return report


# --- Sweep, drain, replay ----------------------------------------------------------------------------------

def sweep(aliases: Iterable[str] | None = None, *, now: datetime | None = None) -> dict[str, int]:
    """Pick up deliveries left behind. Service mode enqueues one task per event (rows already sent and not
    yet run are not sent again before EVENTS_REENQUEUE_MS); embedded mode delivers them in-process.
    Returns, per alias, how many events were sent (or deliveries handled in-process)."""
    result: dict[str, int] = {}
    for alias in aliases or module_aliases():
        if in_process():
            result[alias] = deliver_due(alias, now=now).handled
        else:
            result[alias] = len(_sweep_enqueue(alias, now=now or timezone.now()))
    return result


def tasks_waiting() -> bool:
    """Whether the broker's queue (CELERY_TASK_DEFAULT_QUEUE) holds tasks no worker has taken yet. False when
    it cannot tell (broker down, a transport that does not count): the sweep then resends as it always did."""
    from celery import current_app

    try:
        with current_app.connection_for_read() as connection:
            _, waiting, _ = connection.default_channel.queue_declare(
                queue=current_app.conf.task_default_queue, passive=True)
        return waiting > 0
    except Exception:  # noqa: BLE001 - Redis has no empty queue to declare; a broker down is the sweep's to meet
        return False


def _sweep_enqueue(using: str, *, now: datetime) -> list[uuid.UUID]:
    from pos.models import EventDelivery

    grace = now - timedelta(milliseconds=settings.EVENTS_SWEEP_GRACE_MS)
    resend = now - timedelta(milliseconds=settings.EVENTS_REENQUEUE_MS)
    if tasks_waiting():
        # The tasks sent before are still queued (no worker reads, or it is behind): sending them again would
        # only pile up copies for a worker to drain when it comes. Rows never sent still go.
        due = _due(using, grace).filter(enqueued_at__isnull=True)
    else:
        due = _due(using, grace).filter(Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=resend))
    with bookkeeping(using):
        candidates = due.order_by("next_attempt_at")
        if connections[using].vendor == "postgresql":
            candidates = candidates.select_for_update(skip_locked=True)
        rows = list(candidates.values_list("id", "event_id")[:settings.EVENTS_SWEEP_BATCH])
        if not rows:
            return []
        due.filter(id__in=[r[0] for r in rows]).update(enqueued_at=now)
    event_ids = list(dict.fromkeys(r[1] for r in rows))
    sent = enqueue(using, event_ids)
    unsent = [e for e in event_ids if e not in set(sent)]
    if unsent:  # the broker refused: let the next sweep try at once
        EventDelivery.objects.using(using).filter(event_id__in=unsent, enqueued_at=now).update(enqueued_at=None)
    return sent


def drain(aliases: Iterable[str] | None = None, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver everything due, in this process, whatever the mode (tests, operators). Unlike the relay it
    also delivers into databases with an open transaction (a test's), so the effects join that transaction."""
    report = DeliveryReport()
    for alias in aliases or module_aliases():
        report.add(deliver_due(alias, now=now, limit=10**9, wait_for_open_transactions=False))
    return report


def replay(using: str, delivery_ids: Iterable[uuid.UUID], *, include_delivered: bool = False) -> int:
    """Resubmit deliveries (dead ones; delivered ones too with `include_delivered`, which the inbox then
    acknowledges without a second effect; only those delivered within the retention window, whose inbox
    records are still kept). Returns how many were resubmitted; each is dispatched at once.
    The delivery's history stays: every attempt made so far, its first (and latest) delivery time and its
    last error remain; the replay's time is recorded and it gets a fresh retry budget."""
    from pos.events.purge import retention
    from pos.models import EventDelivery

    now = timezone.now()
    replayable = Q(status=EventDelivery.Status.DEAD)
    if include_delivered:
        # Only while the consumer's inbox still remembers it (see pos/events/purge.py), or it would apply twice.
        replayable |= Q(status=EventDelivery.Status.DELIVERED, delivered_at__gte=now - retention())
    delivery_ids = list(delivery_ids)
    with transaction.atomic(using=using):
        rows = EventDelivery.objects.using(using).filter(replayable, id__in=delivery_ids)
        event_ids = list(dict.fromkeys(rows.values_list("event_id", flat=True)))
        count = rows.update(status=EventDelivery.Status.PENDING, attempts_at_replay=F("attempts"),
                            replayed_at=now, next_attempt_at=now,
                            claimed_until=None, claim_token=None, enqueued_at=None, updated_at=now)
        refresh_events(using, event_ids)
        for event_id in event_ids:
            transaction.on_commit(lambda event_id=event_id: after_commit(using, event_id), using=using)
    return count
