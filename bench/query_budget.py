"""Counting what one operation costs each module database: statements sent and transactions committed.

Django's query log (CaptureQueriesContext) also records transaction control: BEGIN, COMMIT, ROLLBACK and
savepoints. Here they are told apart:
- `statements`: every SQL statement but transaction control (SELECT, INSERT, UPDATE, DELETE, locks);
- `commits`: the transactions that wrote something: an explicit COMMIT after a write, or a write sent in
  autocommit mode (its own transaction);
- `durable_commits`: those commits that wait for the disk (all but transactions that set synchronous_commit off,
  which cost a round trip instead of a disk flush);
- `round_trips`: everything sent, transaction control included (what the database's latency is paid for). A
  transaction's first statement sent with its BEGIN, and its last with its COMMIT (`pos.db.transaction_control`),
  are one round trip each: Django still logs its own BEGIN before and COMMIT after, which psycopg does not send.

The simulated payment provider keeps its own side of the wire (its ledger of charges and refunds, and how it is
told to behave) in payment's database, for want of a provider to call. A real provider holds that on its side:
its transactions are the outside edge's, not a module's. `measure` counts them apart, under `PROVIDER`, so a
module's figures are what it costs with any provider, and the provider's own are still shown.

No side effects on import: the placement budget test and the order benchmarks share it."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator

from django.db import connections
from django.test.utils import CaptureQueriesContext

_CONTROL = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT")
_WRITES = ("INSERT", "UPDATE", "DELETE", "COPY")
PROVIDER = "simulated provider"  # the key its transactions are counted under (in payment's database)


@dataclasses.dataclass(frozen=True)
class Cost:
    statements: int
    commits: int
    round_trips: int
    durable_commits: int = 0
    sql: tuple[str, ...] = ()

    def __str__(self) -> str:
        return f"{self.statements} statements, {self.commits} commits"


_BEGIN_BEFORE = "BEGIN; "
_COMMIT_AFTER = "; COMMIT"


def cost_of(captured: list[dict]) -> Cost:
    statements = commits = durable = not_sent = 0
    in_transaction = wrote = lazy = committed_with_statement = False
    sql = []
    for query in captured:
        text = query["sql"].lstrip()
        head = text.upper()
        sql.append(text)
        if head.startswith(_BEGIN_BEFORE):  # the first statement carried BEGIN: Django's logged BEGIN was not sent
            not_sent += 1 if in_transaction else 0
            in_transaction, head = True, head[len(_BEGIN_BEFORE):]
        elif head.startswith(_CONTROL):
            if head.startswith("BEGIN"):
                in_transaction, wrote, lazy = True, False, False
            elif head.startswith("COMMIT") and committed_with_statement:
                not_sent += 1  # Django's COMMIT after a statement that carried it: psycopg sends nothing
            elif head.startswith("COMMIT"):
                commits += 1 if wrote else 0
                durable += 1 if wrote and not lazy else 0
                in_transaction = wrote = lazy = False
            elif head.startswith("ROLLBACK") and not head.startswith("ROLLBACK TO"):
                in_transaction = wrote = lazy = False
            committed_with_statement = False
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
        if in_transaction and head.rstrip().endswith(_COMMIT_AFTER):
            commits += 1 if wrote else 0
            durable += 1 if wrote and not lazy else 0
            in_transaction = wrote = lazy = False
            committed_with_statement = True
    return Cost(statements=statements, commits=commits, round_trips=len(captured) - not_sent, durable_commits=durable,
                sql=tuple(sql))


def _provider_tables() -> tuple[str, ...]:
    from modules.payment.models import ProviderBehaviour, SimulatedProviderEntry

    return tuple(f'"{model._meta.db_table}"' for model in (SimulatedProviderEntry, ProviderBehaviour))


def split_provider(captured: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the module's, the simulated provider's): a transaction (or a statement sent alone) is the provider's when
    every statement in it touches only the provider's tables."""
    tables = _provider_tables()
    own: list[dict] = []
    provider: list[dict] = []
    unit: list[dict] = []

    def close() -> None:
        statements = [q for q in unit if not q["sql"].lstrip().upper().startswith(_CONTROL)]
        theirs = bool(statements) and all(any(t in q["sql"] for t in tables) for q in statements)
        (provider if theirs else own).extend(unit)
        unit.clear()

    for query in captured:
        head = query["sql"].lstrip().upper()
        unit.append(query)
        if head.startswith(("COMMIT", "ROLLBACK")) and not head.startswith("ROLLBACK TO"):
            close()
        elif not head.startswith(_CONTROL) and len(unit) == 1:
            close()  # sent alone, in autocommit
    close()
    return own, provider


@contextlib.contextmanager
def measure(aliases: list[str]) -> Iterator[dict[str, Cost]]:
    """Capture every statement sent on `aliases` in the block; the dict is filled when the block ends, one Cost
    per alias, and under `PROVIDER` the simulated provider's own transactions (not counted in its alias's)."""
    result: dict[str, Cost] = {}
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in aliases}
    for ctx in contexts.values():
        ctx.__enter__()
    try:
        yield result
    finally:
        provider: list[dict] = []
        for alias, ctx in contexts.items():
            ctx.__exit__(None, None, None)
            own, theirs = split_provider(ctx.captured_queries)
            result[alias] = cost_of(own)
            provider += theirs
        if provider:
            result[PROVIDER] = cost_of(provider)


def _total(costs: list[Cost]) -> Cost:
    return Cost(statements=sum(c.statements for c in costs), commits=sum(c.commits for c in costs),
                round_trips=sum(c.round_trips for c in costs), durable_commits=sum(c.durable_commits for c in costs))


def modules_total(costs: dict[str, Cost]) -> Cost:
    """What the module databases spent, the simulated provider's transactions apart."""
    return _total([cost for alias, cost in costs.items() if alias != PROVIDER])


def describe(costs: dict[str, Cost]) -> str:
    total = modules_total(costs)
    parts = ", ".join(f"{alias} {c.statements}/{c.commits}/{c.durable_commits}" for alias, c in costs.items()
                      if c.round_trips and alias != PROVIDER)
    said = (f"{total.statements} statements, {total.commits} commits ({total.durable_commits} waiting for the disk), "
            f"{total.round_trips} round trips with BEGIN/COMMIT (per database, statements/commits/durable: {parts})")
    if PROVIDER in costs:
        theirs, everything = costs[PROVIDER], _total(list(costs.values()))
        said += (f"; and the simulated provider's own side, in payment's database: {theirs.statements} statements, "
                 f"{theirs.commits} commits ({everything.statements} statements, {everything.commits} commits "
                 "in all)")
    return said
