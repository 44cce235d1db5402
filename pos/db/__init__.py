"""Database helpers shared by the modules: batched inserts (`bulk`), writes that answer their rows
(`returning`), commits that need not wait for the disk (`durability`), psycopg's cache of parsed statements
sized for the hot paths' long statements (`statements`), reads and updates on the hot paths written as text
instead of compiled each time (`hot`), the routing of each module's models to its own database
(`router`)."""

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
