"""What one order placement costs each module database in service mode (PostgreSQL): statements sent and
transactions committed, in process (the saga) and through `POST /api/v1/orders` (the saga plus the web layer:
terminal auth, the Idempotency-Key record). A change that adds a statement or a commit to the hot path fails
here; `bench/order_bench.py` and `bench/http_order_bench.py` print the same figures with the timings.

Counted as in `bench/query_budget.py`: statements exclude BEGIN/COMMIT/savepoints; a commit is a transaction
that wrote (an explicit COMMIT after a write, or a write sent in autocommit); a durable one waits for the disk."""

from __future__ import annotations

import contextlib

import pytest
from django.db import connections
from django.db.models import prefetch_related_objects

from bench.query_budget import PROVIDER, Cost, measure
from modules.inventory import api as inventory
from modules.pos_core import saga
from modules.pos_core.models import Order, OrderSaga, SagaStatus
from modules.pos_core.tests.conftest import make_catalog, order_body, receive
from pos.db.statements import statement_cache_limits
from pos.modules import module_aliases
from pos.tenancy import all_tenants

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres]

# per module database: (statements, commits, commits waiting for the disk) of one two-line card order (its products
# in a category: inventory reads the category names for the order), measured after a warm-up order. Inventory
# reads the products with their stock (one round trip), then their categories; it commits once: the stock is
# taken as sold with the reservation, whose products are not read again. The simulated provider's own side (its
# ledger entry and its behaviour setting, in payment's database) is counted apart: a real provider holds it.
SAGA_BUDGET = {"default": (1, 0, 0), "inventory": (4, 1, 1), "pos_core": (3, 2, 2), "payment": (3, 2, 2),
               "restaurant": (0, 0, 0), PROVIDER: (2, 1, 1)}
# round trips per module database: each transaction's first statement carries its BEGIN, its last its COMMIT
SAGA_ROUND_TRIPS = {"default": 1, "inventory": 4, "pos_core": 3, "payment": 3}
# what the web layer may add on top: terminal auth, the Idempotency-Key record (and its advisory lock); the
# drawer of the terminal at payment. The record's two writes are each one round trip (the statement and its
# `SET LOCAL synchronous_commit TO OFF` sent together).
WEB_BUDGET = {"default": (5, 2, 0), "payment": (1, 0, 0)}


@pytest.fixture(autouse=True)
def _postgres_only():
    if connections["pos_core"].vendor != "postgresql":
        pytest.skip("the budget is PostgreSQL's (service mode); SQLite counts its own way")


def assert_within(costs: dict[str, Cost], budget: dict[str, tuple[int, int, int]]) -> None:
    over = {alias: ((cost.statements, cost.commits, cost.durable_commits), budget.get(alias, (0, 0, 0)))
            for alias, cost in costs.items()
            if any(spent > allowed for spent, allowed in zip((cost.statements, cost.commits, cost.durable_commits),
                                                             budget.get(alias, (0, 0, 0)), strict=True))}
    listing = "\n".join(f"{alias}: {sql[:200]}" for alias, cost in costs.items() if alias in over for sql in cost.sql)
    assert not over, f"over budget ((statements, commits, durable commits), budget): {over}\n{listing}"


def body():
    return order_body(payment={"method": "card"})


def test_a_placement_in_process_stays_within_its_budget(tenant):
    make_catalog(tenant.id)
    saga.place_order(tenant_id=tenant.id, idempotency_key="warm-up", data=body())
    with measure(list(module_aliases())) as costs:
        order = saga.place_order(tenant_id=tenant.id, idempotency_key="measured", data=body())
    assert order.grand_total == 8500 and order.items.count() == 2
    with all_tenants():
        assert Order.objects.count() == 2
        assert set(OrderSaga.objects.values_list("status", "locked_until")) == {(SagaStatus.COMPLETED, None)}
    assert_within(costs, SAGA_BUDGET)
    # Only the provider's own statements are counted apart: its ledger entry; payment's intent and capture stay.
    assert any("payment_simulatedproviderentry" in sql for sql in costs[PROVIDER].sql)
    assert not any("payment_simulatedproviderentry" in sql for sql in costs["payment"].sql)
    assert sum('"payment_payment"' in sql for sql in costs["payment"].sql) >= 2
    # With no drawer to lock, the pending payment is one INSERT in its own transaction: no BEGIN/COMMIT for it
    # (the capture is BEGIN with the UPDATE, then the outbox INSERT with the COMMIT).
    assert {alias: costs[alias].round_trips for alias in SAGA_ROUND_TRIPS} == SAGA_ROUND_TRIPS, {
        alias: costs[alias].sql for alias in SAGA_ROUND_TRIPS}
    for alias in ("inventory", "pos_core", "payment"):
        assert sum(sql.startswith("BEGIN; ") for sql in costs[alias].sql) == 1, costs[alias].sql
        assert sum(sql.endswith("; COMMIT") for sql in costs[alias].sql) == 1, costs[alias].sql
    # The new order's relations are read without asking the database: its items as written, none of the others.
    relations = ("items", "refunds", "payments", "adjustments", "parts")
    with measure(["pos_core"]) as reading:
        prefetch_related_objects([order], *relations)
        assert [len(getattr(order, relation).all()) for relation in relations] == [2, 0, 0, 0, 0]
    assert reading["pos_core"].round_trips == 0, reading["pos_core"].sql


def test_a_placement_through_the_api_adds_only_the_web_layers_budget(tenant, api):
    make_catalog(tenant.id)
    assert api.post("/api/v1/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY="warm-up").status_code == 201
    with measure(list(module_aliases())) as costs:
        answer = api.post("/api/v1/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY="measured")
    assert answer.status_code == 201, answer.content
    assert answer.json()["totals"]["grand_total"]["amount"] == 8500
    # auth, lock, the record's insert, the tenant, the record's response, unlock: no BEGIN, SET or COMMIT apart
    assert costs["default"].round_trips == 6, costs["default"].sql
    budget = {alias: tuple(spent + extra for spent, extra in zip(allowed, WEB_BUDGET.get(alias, (0, 0, 0)), strict=True))
              for alias, allowed in SAGA_BUDGET.items()}
    assert_within(costs, budget)


def test_a_placement_costs_the_same_statements_whatever_its_number_of_lines(tenant):
    """Stock, ledger, events, items and log are written per placement, not per line: six lines cost each
    module database what two do."""
    make_catalog(tenant.id, stock=50)
    for n in range(4):
        inventory.create_product(tenant_id=tenant.id, product_id=f"side-{n}", names={"en": f"Side {n}", "my": "x"},
                                 price=500)
        receive(tenant.id, f"side-{n}", 50)
    saga.place_order(tenant_id=tenant.id, idempotency_key="warm-up", data=body())
    with measure(list(module_aliases())) as two:
        saga.place_order(tenant_id=tenant.id, idempotency_key="two", data=body())
    six_lines = body()
    six_lines["items"] = six_lines["items"] + [{"product_id": f"side-{n}", "quantity": 1} for n in range(4)]
    with measure(list(module_aliases())) as six:
        order = saga.place_order(tenant_id=tenant.id, idempotency_key="six", data=six_lines)
    assert order.items.count() == 6 and order.grand_total == 8500 + 4 * 500
    assert {alias: (cost.statements, cost.commits) for alias, cost in six.items()} == {
        alias: (cost.statements, cost.commits) for alias, cost in two.items()}


def test_every_statement_of_a_placement_is_parsed_once_per_process(tenant, api):
    """psycopg keeps a statement's parsed text only up to a length and a number of parameters; the placement's
    widest writes (one `WITH` statement for the order, its items, the log and the outbox rows) are past its
    defaults and were parsed again on every call. Each one fits the limits set at start-up, and a second
    placement parses nothing new."""
    from psycopg import _queries

    make_catalog(tenant.id)
    seen: list[tuple[str, int]] = []

    def record(execute, sql, params, many, context):
        seen.append((sql, len(params or ())))
        return execute(sql, params, many, context)

    def place(key: str) -> None:
        assert api.post("/api/v1/orders", body(), format="json", HTTP_IDEMPOTENCY_KEY=key).status_code == 201
        saga.place_order(tenant_id=tenant.id, idempotency_key=f"{key}-in-process", data=body())

    place("warm-up")
    with contextlib.ExitStack() as stack:
        for alias in module_aliases():
            stack.enter_context(connections[alias].execute_wrapper(record))
        misses = _queries._query2pg_client.cache_info().misses
        place("measured")
        missed = _queries._query2pg_client.cache_info().misses - misses
    characters, parameters = statement_cache_limits()
    widest = max(seen, key=lambda statement: len(statement[0]))
    most = max(seen, key=lambda statement: statement[1])
    assert len(widest[0]) > 4096 or most[1] > 50, "no statement is past psycopg's own limits any more"
    assert len(widest[0].encode()) <= characters, widest[0][:300]
    assert most[1] <= parameters, most[0][:300]
    assert missed == 0, f"{missed} statement(s) parsed again"
