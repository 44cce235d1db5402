"""Commits that need not wait for the disk.

A write that only repeats what is held durably elsewhere, and that a retry or recovery rebuilds when it is
missing, can commit without waiting for its WAL to reach the disk: PostgreSQL's `synchronous_commit` off for
that one transaction. A crash of the database server may then lose it (never half of it, never out of order: the
next durable commit on that database flushes it too); a crash of the process cannot. A durable commit costs a
disk flush (milliseconds); this one a round trip."""

from __future__ import annotations

from typing import Any

from django.db import connections

from pos.db import sends_several_statements

SET_LAZY = "SET LOCAL synchronous_commit TO OFF"


def without_waiting_for_the_disk(using: str) -> None:
    """Inside `transaction.atomic(using=using)`: its commit does not wait for the disk (PostgreSQL; elsewhere
    nothing changes)."""
    connection = connections[using]
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute(SET_LAZY)


def alone_without_waiting_for_the_disk(using: str, sql: str, params: Any) -> list[tuple] | None:
    """Run one statement as a transaction of its own that does not wait for the disk, in one round trip: on
    PostgreSQL, outside any transaction, `SET LOCAL` and the statement are sent together and run as one implicit
    transaction (both or neither) instead of BEGIN, SET, the statement and COMMIT. Returns the statement's rows,
    or None when it cannot be done so (another database, a transaction open, server-side binding, which sends
    one statement at a time): the caller then runs it in `transaction.atomic` with `without_waiting_for_the_disk`.
    Relies on psycopg's client-side binding, Django's default, which sends a query by the simple protocol."""
    connection = connections[using]
    if not sends_several_statements(using) or connection.in_atomic_block or not connection.get_autocommit():
        return None
    with connection.cursor() as cursor:
        cursor.execute(f"{SET_LAZY}; {sql}", params)
        cursor.cursor.nextset()
        return cursor.fetchall() if cursor.description is not None else []
