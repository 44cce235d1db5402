"""Counting what one operation costs each module database: statements sent and transactions committed.

Django's query log (CaptureQueriesContext) also records transaction control: BEGIN, COMMIT, ROLLBACK and
savepoints. Here they are told apart:
- `statements`: every SQL statement but transaction control (SELECT, INSERT, UPDATE, DELETE, locks);
- `commits`: the transactions that wrote something: an explicit COMMIT after a write, or a write sent in
  autocommit mode (its own transaction);
- `durable_commits`: those commits that wait for the disk (all but transactions that set synchronous_commit off,
  which cost a round trip instead of a disk flush);
- `round_trips`: everything sent, transaction control included (what the database's latency is paid for).

No side effects on import: the placement budget test and the order benchmarks share it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from django.db import connections
from django.test.utils import CaptureQueriesContext

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
_WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")


@dataclasses.dataclass(frozen=True)
class Cost:
    statements: int
    commits: int
    round_trips: int
    durable_commits: int = 0
    sql: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.statements} statements, {self.commits} commits"


def cost_of(captured: list[dict]) -> Cost:
    statements = commits = durable = 0
    in_transaction = wrote = lazy = False
    sql = []
    for query in captured:
        text = query["sql"].lstrip()
        head = text.upper()
        sql.append(text)
        if head.startswith(_CONTROL):
            if head.startswith("BEGIN"):
                in_transaction, wrote, lazy = True, False, False
            elif head.startswith("COMMIT"):
                commits += 1 if wrote else 0
                durable += 1 if wrote and not lazy else 0
                in_transaction = wrote = lazy = False
            elif head.startswith("ROLLBACK") and not head.startswith("ROLLBACK TO"):
                in_transaction = wrote = lazy = False
            continue
        statements += 1
        alone_lazy = False
        if head.startswith("SET LOCAL SYNCHRONOUS_COMMIT") and head.partition(";")[0].endswith("OFF"):
            if not in_transaction:  # SET LOCAL and one statement sent together: one lazy transaction of its own
                alone_lazy, head = True, head.partition(";")[2].lstrip()
            else:
                lazy = True
        if head.startswith(_WRITES) or (head.startswith("WITH") and any(w in head for w in _WRITES)):
            if in_transaction:
                wrote = True
            else:
                commits += 1
                durable += 0 if alone_lazy else 1
    return Cost(statements=statements, commits=commits, round_trips=len(captured), durable_commits=durable,
                sql=tuple(sql))


@contextlib.contextmanager
def measure(aliases: list[str]) -> Iterator[dict[str, Cost]]:
    """Capture every statement sent on `aliases` in the block; the dict is filled when the block ends."""
    result: dict[str, Cost] = {}
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in aliases}
    for ctx in contexts.values():
        ctx.__enter__()
    try:
        yield result
    finally:
        for alias, ctx in contexts.items():
            ctx.__exit__(None, None, None)
            result[alias] = cost_of(ctx.captured_queries)


def describe(costs: dict[str, Cost]) -> str:
    total = Cost(statements=sum(c.statements for c in costs.values()),
                 commits=sum(c.commits for c in costs.values()),
                 round_trips=sum(c.round_trips for c in costs.values()),
                 durable_commits=sum(c.durable_commits for c in costs.values()))
    parts = ", ".join(f"{alias} {c.statements}/{c.commits}/{c.durable_commits}" for alias, c in costs.items()
                      if c.round_trips)
    return (f"{total.statements} statements, {total.commits} commits ({total.durable_commits} waiting for the disk), "
            f"{total.round_trips} round trips with BEGIN/COMMIT (per database, statements/commits/durable: {parts})")
