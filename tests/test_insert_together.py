"""`pos.db.bulk.insert_together`: the rows of several models in one statement on PostgreSQL (an import's large
group by its own COPY), one INSERT per model elsewhere; tenant-scoped rows stamped and checked like
`bulk_create`; a failure writes nothing."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, connections, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import make_tenant
from modules.inventory.models import Movement
from pos.db.bulk import COPY_ROWS, Rows, insert_together
from pos.models import EventDelivery, OutboxEvent
from pos.tenancy import TenantMismatch, all_tenants, tenant_context

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

DB = "inventory"


def movements(tenant_id, count: int, product: str = "tea") -> list[Movement]:
    return [Movement(tenant_id=tenant_id, product_id=f"{product}-{n}", variant="", kind="receive", quantity=1,
                     on_hand_delta=1, reserved_delta=0, on_hand_after=1, reserved_after=0, sequence=1)
            for n in range(count)]


def event_with_deliveries(tenant_id, handlers: int) -> tuple[OutboxEvent, list[EventDelivery]]:
    now = timezone.now()
    event = OutboxEvent(id=uuid.uuid4(), name="bench.ping", version=1, tenant_id=tenant_id, occurred_at=now,
                        payload={"key": "x"}, next_attempt_at=now)
    return event, [EventDelivery(event=event, event_name=event.name, tenant_id=tenant_id, handler_name=f"h{n}",
                                 consumer_alias="pos_core", next_attempt_at=now) for n in range(handlers)]


def test_rows_of_three_models_are_one_statement_on_postgresql_and_all_written():
    tenant = make_tenant()
    event, deliveries = event_with_deliveries(tenant.id, 3)
    rows = movements(None, 4)  # stamped with the tenant in scope
    with CaptureQueriesContext(connections[DB]) as queries, transaction.atomic(using=DB), tenant_context(tenant.id):
        insert_together(DB, rows, [event], deliveries, [])
    writes = [q["sql"] for q in queries if q["sql"].removeprefix("BEGIN; ").startswith(("INSERT", "WITH"))]
    assert len(writes) == (1 if connections[DB].vendor == "postgresql" else 3)
    with all_tenants():
        assert sorted(Movement.objects.using(DB).values_list("product_id", flat=True)) == [f"tea-{n}" for n in range(4)]
        assert set(Movement.objects.using(DB).values_list("tenant_id", flat=True)) == {tenant.id}
    assert EventDelivery.objects.using(DB).filter(event_id=event.id).count() == 3
    assert not event._state.adding and all(not row._state.adding for row in rows)


def test_a_large_group_goes_by_copy_beside_the_statement_and_raw_rows_keep_their_values():
    tenant = make_tenant()
    event, deliveries = event_with_deliveries(tenant.id, 2)
    many = movements(tenant.id, COPY_ROWS + 1)
    earlier = timezone.now() - timedelta(days=3)
    kept = Rows(movements(tenant.id, 2, product="kept"), raw=True)
    for row in kept:
        row.created_at = earlier
    with CaptureQueriesContext(connections[DB]) as queries, transaction.atomic(using=DB), tenant_context(tenant.id):
        insert_together(DB, many, kept, [event], deliveries)
    with all_tenants():
        assert Movement.objects.using(DB).filter(product_id__startswith="tea-").count() == COPY_ROWS + 1
        assert set(Movement.objects.using(DB).filter(product_id__startswith="kept-").values_list(
            "created_at", flat=True)) == {earlier}
    assert EventDelivery.objects.using(DB).count() == 2
    if connections[DB].vendor == "postgresql":  # COPY is not in Django's query log: the rest is one statement
        assert len([q for q in queries if q["sql"].removeprefix("BEGIN; ").startswith(("INSERT", "WITH"))]) == 1


def test_a_row_of_another_tenant_or_a_duplicate_writes_nothing():
    tenant, other = make_tenant(), make_tenant()
    event, deliveries = event_with_deliveries(tenant.id, 1)
    with pytest.raises(TenantMismatch), transaction.atomic(using=DB), tenant_context(tenant.id):
        insert_together(DB, movements(tenant.id, 2) + movements(other.id, 1, product="theirs"), [event], deliveries)
    with pytest.raises(IntegrityError), transaction.atomic(using=DB), tenant_context(tenant.id):
        twice = event_with_deliveries(tenant.id, 1)[0]
        insert_together(DB, movements(tenant.id, 2), [twice, OutboxEvent(**{
            f.attname: getattr(twice, f.attname) for f in OutboxEvent._meta.concrete_fields})])
    with all_tenants():
        assert not Movement.objects.using(DB).exists()
    assert not OutboxEvent.objects.using(DB).exists() and not EventDelivery.objects.using(DB).exists()
    with pytest.raises(ValueError, match="primary keys set"):
        insert_together(DB, [OutboxEvent(id=None)])


def test_the_kept_statement_text_is_what_djangos_compiler_writes_with_the_same_parameters():
    """A few rows go by a statement text kept per model and row count: it and its parameters are what Django's
    `SQLInsertCompiler` writes for the same rows (JSON, times set at the insert, raw values kept), and a value
    that is an expression is left to the compiler."""
    from django.db.models import Value
    from django.db.models.sql import InsertQuery
    from django.db.models.sql.compiler import SQLInsertCompiler

    from pos.db.bulk import _insert_fields, _values_insert

    connection = connections[DB]
    if connection.vendor != "postgresql":
        pytest.skip("the kept statement is PostgreSQL's path; elsewhere insert_together is bulk_create")
    tenant = make_tenant()
    for build, raw in ((lambda: movements(tenant.id, 3), False), (lambda: [event_with_deliveries(tenant.id, 0)[0]], True),
                       (lambda: [event_with_deliveries(tenant.id, 0)[0]], False)):
        for _ in range(2):  # the first call writes the text, the second reads it back
            rows = build()
            query = InsertQuery(type(rows[0]))
            query.insert_values(_insert_fields(type(rows[0])), rows, raw=raw)
            ((expected, expected_params),) = SQLInsertCompiler(query, connection, DB).as_sql()
            sql, params = _values_insert(type(rows[0]), rows, connection, raw)
            assert sql == expected
            for ours, theirs in zip(params, expected_params, strict=True):  # a time set at the insert: moments apart
                if isinstance(theirs, datetime):
                    assert isinstance(ours, datetime) and abs(ours - theirs) < timedelta(seconds=5)
                else:
                    assert type(ours) is type(theirs) and str(ours) == str(theirs)
    rows = movements(tenant.id, 1)
    rows[0].quantity = Value(1)
    assert _values_insert(Movement, rows, connection, False) is None
