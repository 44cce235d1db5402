"""Database helpers shared by the modules: batched inserts (`bulk`), writes that answer their rows
(`returning`), commits that need not wait for the disk (`durability`), psycopg's cache of parsed statements
sized for the hot paths' long statements (`statements`), reads and updates on the hot paths written as text
instead of compiled each time (`hot`), the routing of each module's models to its own database
(`router`); a transaction's first statement sent with its BEGIN and its last with its COMMIT
(`transaction_control`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

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


BEGIN_BEFORE = "BEGIN; "
COMMIT_AFTER = "; COMMIT"


@contextlib.contextmanager
def transaction_control(using: str, sql: str, *, commit: bool = False) -> Iterator[str]:
    """The text to send for `sql` on `using` inside this block: with its transaction's BEGIN in front when it is
    the transaction's first statement (`begins_with_statement`), and with `commit` its COMMIT after it where the
    caller's block allows (`commits_with_last_statement`): a round trip saved each. psycopg sends BEGIN alone
    before a transaction's first statement; told that the connection is in autocommit (a flag it lets change on
    an idle connection, and nothing is sent), it does not, and the transaction the statement opens is closed as
    any other, by Django's COMMIT or ROLLBACK at the block's end, which also sets the flag back. Should the
    statement not reach the server (an error before it is sent), the flag is set back at once, so what follows in
    the block is still one transaction. `executed` sends the text and steps past BEGIN's result."""
    connection = connections[using]
    opens = begins_with_statement(using)
    if opens:
        connection.connection.autocommit = True
        sql = BEGIN_BEFORE + sql
    if commit and commits_with_last_statement(using):
        sql += COMMIT_AFTER
    try:
        yield sql
    finally:
        if opens and connection.connection is not None and _idle(connection.connection):
            connection.connection.autocommit = False


@contextlib.contextmanager
def executed(using: str, sql: str, params, *, commit: bool = False) -> Iterator[Any]:
    """A Django cursor on `using` that has executed `sql` with `params`, its transaction's BEGIN and (with `commit`)
    COMMIT sent with it where they can be (`transaction_control`), standing on the statement's own result (rows,
    row count): past BEGIN's, when it carries one."""
    with transaction_control(using, sql, commit=commit) as text, connections[using].cursor() as cursor:
        cursor.execute(text, params)
        if text.startswith(BEGIN_BEFORE):
            cursor.cursor.nextset()
        yield cursor


def sends_several_statements(using: str) -> bool:
    """Whether a query sent on `using` may hold several statements: PostgreSQL with client-side binding (Django's
    default), whose simple protocol takes them in one round trip. Server-side binding sends one at a time."""
    connection = connections[using]
    return (connection.vendor == "postgresql"
            and not connection.settings_dict.get("OPTIONS", {}).get("server_side_binding"))


def begins_with_statement(using: str) -> bool:
    """Whether the statement about to be sent on `using` opens its transaction: inside `transaction.atomic` on
    PostgreSQL with client-side binding (several statements in one query), nothing sent in the transaction yet,
    and no isolation level, read-only or deferrable setting (which psycopg's BEGIN would carry)."""
    connection = connections[using]
    raw = connection.connection
    return (sends_several_statements(using) and connection.in_atomic_block and raw is not None
            and not raw.autocommit and _idle(raw) and raw.isolation_level is None and raw.read_only is None
            and raw.deferrable is None)


def _idle(raw) -> bool:
    from psycopg.pq import TransactionStatus

    return raw.info.transaction_status == TransactionStatus.IDLE


def commits_with_last_statement(using: str) -> bool:
    """Whether the statement about to be sent on `using` may carry its transaction's COMMIT, in one round trip
    instead of two (and on a hot row, a lock held one round trip less): on PostgreSQL with client-side binding
    (Django's default, whose simple protocol takes several statements in one query), inside exactly one
    `transaction.atomic` (outermost, no savepoint, nothing to roll back). The statement must be the block's
    last: psycopg skips Django's own COMMIT at the block's end (the connection is idle by then) and the
    `on_commit` hooks run as always. If the statement fails, the COMMIT is not run and the block rolls back; if
    the COMMIT fails (a deferred constraint), it raises from the statement, as Django's COMMIT would."""
    connection = connections[using]
    return (sends_several_statements(using) and len(connection.atomic_blocks) == 1 and not connection.savepoint_ids
            and not connection.needs_rollback)
