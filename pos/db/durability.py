"""Commits that need not wait for the disk.

A write that only repeats what is held durably elsewhere, and that a retry or recovery rebuilds when it is
missing, can commit without waiting for its WAL to reach the disk: PostgreSQL's `synchronous_commit` off for
that one transaction. A crash of the database server may then lose it (never half of it, never out of order: the
next durable commit on that database flushes it too); a crash of the process cannot. A durable commit costs a
disk flush (milliseconds); this one a round trip."""

from __future__ import annotations

from django.db import connections


def without_waiting_for_the_disk(using: str) -> None:
    """Inside `transaction.atomic(using=using)`: its commit does not wait for the disk (PostgreSQL; elsewhere
    nothing changes)."""
    connection = connections[using]
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
