"""The one event publisher.

`publish(event, tenant_id=..., using=<module alias>)` records the event in the outbox of the publishing
module's database, with one delivery row per current subscriber (the publication registry). It must run
inside `transaction.atomic(using=<alias>)` so the event commits or rolls back with the change that caused
it. After commit the relay hands it to the subscribers (see pos/events/README.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from django.db import connections, transaction
from django.db.models import Model
from django.utils import timezone

from pos.contracts import Envelope, to_payload
from pos.db.bulk import insert_together
from pos.events.registry import subscribe, subscriptions_for

__all__ = ["Envelope", "PublishOutsideTransaction", "publish", "publish_many", "subscribe", "subscriptions_for"]


class PublishOutsideTransaction(RuntimeError):
    pass


def publish(event: Any, *, tenant_id: uuid.UUID | str, using: str,
            together: Sequence[Sequence[Model]] = (), commit: bool = False) -> Envelope:
    """Record `event` (an instance of a class declared with `pos.contracts.event`) in `using`'s outbox.
    `together`: groups of new rows (of one model each) that the change itself writes, inserted in the same
    statement as the event and its deliveries (`pos.db.bulk.insert_together`). `commit`: that statement is the
    transaction's last; its COMMIT may be sent with it (`insert_together`'s `commit`).

    Raises SchemaError for an undeclared event, PublishOutsideTransaction when not inside
    `transaction.atomic(using=using)`.
    """
    from pos.models import EventDelivery, OutboxEvent

    payload = to_payload(event)
    if not connections[using].in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish({event.event_name}) must run inside transaction.atomic(using={using!r}) "
            "so the event commits with its cause."
        )
    now = timezone.now()
    subscribers = subscriptions_for(event.event_name)
    tenant = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    row = OutboxEvent(
        id=uuid.uuid4(),
        name=event.event_name,
        version=event.event_version,
        tenant_id=tenant,
        occurred_at=now,
        payload=payload,
        next_attempt_at=now,
        # Nobody listens: nothing to deliver, the event is kept as a record.
        status=OutboxEvent.Status.PENDING if subscribers else OutboxEvent.Status.DELIVERED,
        delivered_at=None if subscribers else now,
    )
    # The publication registry: one delivery per subscriber, committed with the event.
    deliveries = [EventDelivery(event_id=row.id, event_name=row.name, tenant_id=tenant, handler_name=sub.handler_name,
                                consumer_alias=sub.using, next_attempt_at=now) for sub in subscribers]
    insert_together(using, *together, [row], deliveries, commit=commit)
    if subscribers:
        from pos.events import relay

        transaction.on_commit(lambda: relay.after_commit(using, row.id), using=using)
    return Envelope(id=row.id, name=row.name, version=row.version, tenant_id=row.tenant_id,
                    occurred_at=row.occurred_at, payload=event)


def publish_many(events: list[Any], *, tenant_id: uuid.UUID | str, using: str,
                 together: Sequence[Sequence[Model]] = (), commit: bool = False) -> list[Envelope]:
    """Record many events of one tenant in `using`'s outbox at once: one statement for the events, their
    deliveries and the `together` rows, whatever their number (batched imports; on PostgreSQL, elsewhere one
    INSERT per table), with the same guarantees as `publish`: they commit or roll back with the surrounding
    `transaction.atomic(using=using)` and are relayed after commit. `commit` as `publish`'s.

    Raises SchemaError for an undeclared event, PublishOutsideTransaction when not inside
    `transaction.atomic(using=using)`.
    """
    from pos.models import EventDelivery, OutboxEvent

    payloads = [to_payload(event) for event in events]
    if not events:
        insert_together(using, *together, commit=commit)
        return []
    if not connections[using].in_atomic_block:
        raise PublishOutsideTransaction(
            f"publish_many({len(events)} events) must run inside transaction.atomic(using={using!r}) "
            "so the events commit with their cause."
        )
    now = timezone.now()
    tenant = tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))
    subscribers = {name: subscriptions_for(name) for name in {event.event_name for event in events}}
    rows = [
        OutboxEvent(id=uuid.uuid4(), name=event.event_name, version=event.event_version, tenant_id=tenant,
                    occurred_at=now, payload=payload, next_attempt_at=now,
                    status=OutboxEvent.Status.PENDING if subscribers[event.event_name] else OutboxEvent.Status.DELIVERED,
                    delivered_at=None if subscribers[event.event_name] else now)
        for event, payload in zip(events, payloads, strict=True)
    ]
    deliveries = [
        EventDelivery(event_id=row.id, event_name=row.name, tenant_id=tenant, handler_name=sub.handler_name,
                      consumer_alias=sub.using, next_attempt_at=now)
        for row in rows for sub in subscribers[row.name]
    ]
    insert_together(using, *together, rows, deliveries, commit=commit)
    if deliveries:
        from pos.events import relay

        pending = [row.id for row in rows if subscribers[row.name]]
        transaction.on_commit(lambda: relay.after_commit_many(using, pending), using=using)
    return [Envelope(id=row.id, name=row.name, version=row.version, tenant_id=row.tenant_id,
                     occurred_at=row.occurred_at, payload=event) for row, event in zip(rows, events, strict=True)]
