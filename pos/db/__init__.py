"""Database helpers shared by the modules: batched inserts (`bulk`), writes that answer their rows
(`returning`), commits that need not wait for the disk (`durability`), psycopg's cache of parsed statements
sized for the hot paths' long statements (`statements`), reads and updates on the hot paths written as text
instead of compiled each time (`hot`), the routing of each module's models to its own database
(`router`); a transaction's last statement sent with its COMMIT (`commits_with_last_statement`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from django.db import connections, transaction


def drop_broken_connections() -> None:
    """After a database error: close the connections that are broken (a lost server, a killed backend) so the
    next query reconnects. Connections inside a transaction are left to it."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close_if_unusable_or_obsolete()


@contextlib.contextmanager
def alone(using: str) -> Iterator[None]:
    """For one statement: in autocommit it is its own transaction (no BEGIN and COMMIT round trips); inside a
    caller's transaction a savepoint keeps its failure (a key used before) from breaking that transaction."""
    if connections[using].in_atomic_block:
        with transaction.atomic(using=using):
            yield
    else:
        yield


COMMIT_AFTER = "; COMMIT"


def commits_with_last_statement(using: str) -> bool:
    """Whether the statement about to be sent on `using` may carry its transaction's COMMIT, in one round trip
    instead of two (and on a hot row, a lock held one round trip less): on PostgreSQL with client-side binding
    (Django's default, whose simple protocol takes several statements in one query), inside exactly one
    `transaction.atomic` (outermost, no savepoint, nothing to roll back). The statement must be the block's
    last: psycopg skips Django's own COMMIT at the block's end (the connection is idle by then) and the
    `on_commit` hooks run as always. If the statement fails, the COMMIT is not run and the block rolls back; if
    the COMMIT fails (a deferred constraint), it raises from the statement, as Django's COMMIT would."""
    connection = connections[using]
    return (connection.vendor == "postgresql" and len(connection.atomic_blocks) == 1 and not connection.savepoint_ids
            and not connection.needs_rollback and connection.in_atomic_block
            and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))
