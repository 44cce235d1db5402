"""A transaction's first statement sent with its BEGIN and its last with its COMMIT (`pos.db.transaction_control`,
used by `insert_together`, `rows_where`, `update_where`; the COMMIT through `commit=True` of `insert_together` and
`publish`): one round trip each saved, and the same outcome as psycopg's BEGIN and Django's COMMIT in every case:
one transaction for the whole block, committed when the statement and the COMMIT succeed, nothing at all when
either fails, `on_commit` hooks run only after a commit, and the COMMIT never sent inside a savepoint or a nested
block (where it would commit the caller's transaction). Elsewhere than on PostgreSQL nothing changes."""

from __future__ import annotations

import uuid

import pytest
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from conftest import make_tenant, statements_sent
from modules.inventory.models import Reservation
from modules.pos_core.models import SagaLogEntry
from pos.db import begins_with_statement, commits_with_last_statement, executed
from pos.db.bulk import insert_together
from pos.tenancy import all_tenants, tenant_context

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)

DB = "inventory"


def postgres() -> bool:
    return connections[DB].vendor == "postgresql"


def reservation(tenant_id, key: str) -> Reservation:
    now = timezone.now()
    return Reservation(tenant_id=tenant_id, key=key, status=Reservation.Status.COMMITTED, lines=[], expires_at=now,
                       closed_at=now)


def committed(key: str, alias: str = DB) -> int:
    """Reservations with `key` as another connection sees them: only what is committed (on PostgreSQL; elsewhere
    this connection's view, asked outside a transaction only)."""
    if not postgres():
        with all_tenants():
            return Reservation.objects.using(alias).filter(key=key).count()
    other = connections.create_connection(alias)
    try:
        with other.cursor() as cursor:
            cursor.execute(f"SELECT count(*) FROM {Reservation._meta.db_table} WHERE key = %s", [key])  # noqa: S608
            return cursor.fetchone()[0]
    finally:
        other.close()


def taken_again(tenant_id, key: str) -> Reservation:
    """A new reservation whose primary key is one written already: its INSERT fails."""
    first = reservation(tenant_id, key)
    insert_together(DB, [first])
    again = reservation(tenant_id, f"{key}-again")
    again.pk = first.pk
    return again


def test_the_last_statement_carries_the_commit_and_the_hooks_run_after_it():
    tenant = make_tenant()
    ran = []
    with tenant_context(tenant.id), statements_sent(DB) as statements:
        with transaction.atomic(using=DB):
            assert commits_with_last_statement(DB) is postgres()
            transaction.on_commit(lambda: ran.append(committed("last")), using=DB)
            insert_together(DB, [reservation(tenant.id, "last")], commit=True)
            if postgres():  # committed already, by the statement itself: the block's end sends nothing more
                assert statements[-1].endswith("; COMMIT")
                assert committed("last") == 1
                assert connections[DB].connection.info.transaction_status.name == "IDLE"
            assert ran == []  # hooks wait for the block's end, as always
    assert ran == [1]
    assert committed("last") == 1


def test_not_in_autocommit_a_savepoint_or_a_nested_block():
    tenant = make_tenant()
    assert not commits_with_last_statement(DB)  # autocommit: the statement is its own transaction anyway
    with tenant_context(tenant.id), statements_sent(DB) as statements:
        with transaction.atomic(using=DB):
            with transaction.atomic(using=DB):  # a savepoint
                assert not commits_with_last_statement(DB)
                insert_together(DB, [reservation(tenant.id, "nested")], commit=True)
            with transaction.atomic(using=DB, savepoint=False):  # nested without one: still the caller's
                assert not commits_with_last_statement(DB)
                insert_together(DB, [reservation(tenant.id, "nested-2")], commit=True)
            if postgres():  # the caller's transaction is still open: nothing committed yet
                assert committed("nested") == 0 and committed("nested-2") == 0
        assert not any(sql.endswith("; COMMIT") for sql in statements)
    assert committed("nested") == 1 and committed("nested-2") == 1


def test_a_statement_that_fails_commits_nothing_and_runs_no_hook():
    tenant = make_tenant()
    with tenant_context(tenant.id):
        ran = []
        again = taken_again(tenant.id, "twice")  # its INSERT fails: its COMMIT is never run
        with pytest.raises(IntegrityError), transaction.atomic(using=DB):
            transaction.on_commit(lambda: ran.append("hook"), using=DB)
            insert_together(DB, [reservation(tenant.id, "before")])
            insert_together(DB, [again], commit=True)
        assert ran == []
        assert committed("before") == 0 and committed("twice-again") == 0
        # the connection is usable again, in autocommit
        assert connections[DB].get_autocommit()
        insert_together(DB, [reservation(tenant.id, "after")])
    assert committed("after") == 1


def test_a_commit_that_fails_raises_from_the_statement_and_keeps_nothing():
    """Django's foreign keys are checked at COMMIT: a log line of a saga that does not exist fails there."""
    tenant = make_tenant()
    ran = []
    line = SagaLogEntry(tenant_id=tenant.id, saga_id=uuid.uuid4(), action="start", outcome="ok", at=timezone.now())
    with tenant_context(tenant.id), pytest.raises(IntegrityError), transaction.atomic(using="pos_core"):
        transaction.on_commit(lambda: ran.append("hook"), using="pos_core")
        insert_together("pos_core", [line], commit=True)
    assert ran == []
    with all_tenants():
        assert not SagaLogEntry.objects.filter(pk=line.pk).exists()
    assert connections["pos_core"].get_autocommit()


def test_the_first_statement_carries_the_begin_and_the_block_is_one_transaction():
    tenant = make_tenant()
    with tenant_context(tenant.id), statements_sent(DB) as statements:
        with transaction.atomic(using=DB):
            assert begins_with_statement(DB) is postgres()
            insert_together(DB, [reservation(tenant.id, "first")])
            assert not begins_with_statement(DB)  # the transaction is open now
            insert_together(DB, [reservation(tenant.id, "second")])
            if postgres():
                assert statements[0].startswith("BEGIN; ") and not statements[1].startswith("BEGIN")
                assert committed("first") == 0  # nothing committed before the block ends
        assert connections[DB].get_autocommit()
        if postgres():
            assert connections[DB].connection.autocommit  # psycopg's flag is Django's again
    assert committed("first") == 1 and committed("second") == 1


def test_a_first_statement_that_fails_at_the_server_rolls_the_block_back():
    tenant = make_tenant()
    with tenant_context(tenant.id):
        again = taken_again(tenant.id, "taken")
        with pytest.raises(IntegrityError), transaction.atomic(using=DB):
            insert_together(DB, [again])  # opens the transaction, and fails
        assert connections[DB].get_autocommit()
        insert_together(DB, [reservation(tenant.id, "after-failure")])
    assert committed("taken-again") == 0 and committed("after-failure") == 1


def test_a_first_statement_that_never_reaches_the_server_leaves_the_block_one_transaction():
    """psycopg refuses a value it cannot send before sending anything: the rest of the block must still be one
    transaction (psycopg sends its own BEGIN again), rolled back whole when the block fails."""
    tenant = make_tenant()
    with tenant_context(tenant.id), pytest.raises(RuntimeError), transaction.atomic(using=DB):
        with pytest.raises(Exception, match=r"adapt|type"), executed(DB, "SELECT %s", [object()]):
            pass
        insert_together(DB, [reservation(tenant.id, "kept-in-the-block")])
        if postgres():
            assert committed("kept-in-the-block") == 0  # not committed on its own: in the block's transaction
        raise RuntimeError("the block fails")
    assert committed("kept-in-the-block") == 0
