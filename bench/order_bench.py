"""Order placement under K concurrent terminals: the saga across module databases vs one local transaction.

Runs on throw-away `bench_` databases beside the configured ones (service mode: DATABASE_URL_* on PostgreSQL and
REDIS_URL; embedded mode works too, on SQLite), dropped at the end. It creates a restaurant with a large stock,
then:
- saga: K threads place N orders each through pos_core's saga (sell the stock in inventory, charge in payment,
  record the order in pos_core), every step persisted;
- reference: the same K x N orders as one transaction in one database making the same writes (decrement the
  stock row, insert a payment row, insert the order and its items, an outbox row).
Both run K terminals twice: as K threads of this process (one interpreter: its CPU is one core's), then as K
processes of their own (forked after the set-up, each with its own connections, as the web server's worker processes
are: both cores in use; `--no-processes` skips these). The saga and the reference take turns, `--rounds` times, so
both meet the same machine; the ratio is the median of the rounds' ratios, and the 0.5x target is checked on both
forms.
Prints, for one terminal and for K: throughput, p50/p99 latency and the ratio; and what one placement costs each
module database (statements and commits, `--sql` lists them). `--profile` adds a cProfile of one terminal's
placements (the functions taking the most time), `--steps N` this process's CPU time per placement by saga step
(no profiler: what each module call costs). The application's log lines go to /dev/null (still formatted,
as in production), so only figures are printed.

    .venv/bin/python bench/order_bench.py [--terminals 8] [--orders 25] [--rounds 3] [--sql] [--profile]
                                          [--steps 300] [--no-processes]
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import pstats
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench import report as figures  # noqa: E402
from bench.bench_databases import bench_databases  # noqa: E402
from bench.query_budget import describe, measure, modules_total  # noqa: E402
from modules.accounts import api as accounts  # noqa: E402
from modules.inventory import api as inventory  # noqa: E402
from modules.pos_core import saga  # noqa: E402
from pos.modules import module_aliases  # noqa: E402

BENCH = "order_bench"
BODY = {"items": [{"product_id": "bench-noodle", "quantity": 1, "options": ["egg"]},
                  {"product_id": "bench-tea", "quantity": 2}], "payment": {"method": "card"}}


def setup_tenant(total_units: int):
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = accounts.create_tenant(name=f"Bench {slug}", slug=slug)
    inventory.create_product(tenant_id=tenant.id, product_id="bench-noodle", names={"en": "Noodle", "my": "Noodle"},
                             price=3000, option_groups=[{"key": "extras", "names": {"en": "Extras", "my": "Extras"},
                                                         "min_select": 0, "max_select": 1,
                                                         "choices": [{"key": "egg", "names": {"en": "Egg", "my": "Egg"},
                                                                      "price_delta": 500}]}])
    inventory.create_product(tenant_id=tenant.id, product_id="bench-tea", names={"en": "Tea", "my": "Tea"}, price=1000)
    for product in ("bench-noodle", "bench-tea"):
        inventory.adjust_stock(tenant_id=tenant.id, product_id=product, variant=None, kind="receive",
                               quantity=total_units * 2, reason="bench", actor="bench")
    return tenant


def run(threads: int, per_thread: int, place, *, processes: bool = False) -> tuple[float, list[float], int]:
    """`threads` terminals at once, each placing `per_thread` orders with `place(key)`, or with `place[i](key)`
    when `place` is a list of one callable per terminal: (seconds, latencies, errors). With `processes`, each
    terminal is a process of its own (forked, its own connections), as the web server's worker processes are;
    otherwise a thread of this process, all sharing one interpreter."""
    if processes:
        return _run_processes(threads, per_thread, place)
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    barrier = threading.Barrier(threads)

    def worker(index: int) -> None:
        mine, failed = _terminal(index, per_thread, place[index] if isinstance(place, list) else place, barrier.wait)
        with lock:
            latencies.extend(mine)
            errors[0] += failed
        connections.close_all()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return time.perf_counter() - started, latencies, errors[0]


def _terminal(index: int, orders: int, call, ready) -> tuple[list[float], int]:
    """One terminal's orders, once `ready()` returns: (latencies, errors; the first three errors printed)."""
    mine: list[float] = []
    failed = 0
    ready()
    for n in range(orders):
        started = time.perf_counter()
        try:
            call(f"t{index}-n{n}-{uuid.uuid4().hex[:6]}")
        except Exception as exc:
            failed += 1
            if failed <= 3:
                print(f"  error (terminal {index}): {type(exc).__name__}: {exc}", flush=True)
        mine.append(time.perf_counter() - started)
    return mine, failed


def _run_processes(count: int, per_process: int, place) -> tuple[float, list[float], int]:
    """`count` forked terminal processes; timed from when all are ready to when the last one has answered."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    connections.close_all()  # a child opens its own; a forked socket would be shared
    answers = context.Queue()
    barrier = context.Barrier(count + 1)

    def child(index: int) -> None:
        try:
            answers.put(_terminal(index, per_process, place[index] if isinstance(place, list) else place,
                                  barrier.wait))
        finally:
            connections.close_all()

    children = [context.Process(target=child, args=(i,), daemon=True) for i in range(count)]
    for process in children:
        process.start()
    barrier.wait()
    started = time.perf_counter()
    latencies: list[float] = []
    errors = 0
    for _ in children:
        mine, failed = answers.get(timeout=600)
        latencies.extend(mine)
        errors += failed
    elapsed = time.perf_counter() - started
    for process in children:
        process.join()
    return elapsed, latencies, errors


REFERENCE_DDL = [
    "CREATE TABLE IF NOT EXISTS bench_stock (id varchar(64) PRIMARY KEY, on_hand integer NOT NULL)",
    "CREATE TABLE IF NOT EXISTS bench_payment (id varchar(64) PRIMARY KEY, amount bigint NOT NULL, "
    "method varchar(20) NOT NULL, idem varchar(255) UNIQUE NOT NULL)",
]


def reference_place(tenant, alias: str):
    """The same writes as the saga's, in one transaction of one database."""
    from pos.contracts.pos_core import OrderPlaced
    from pos.events import publish
    from pos.tenancy import tenant_context

    def place(key: str) -> None:
        from modules.pos_core.models import Order, OrderItem

        with transaction.atomic(using=alias), tenant_context(tenant.id):
            with connections[alias].cursor() as cursor:
                for product, quantity in (("bench-noodle", 1), ("bench-tea", 2)):
                    cursor.execute("UPDATE bench_stock SET on_hand = on_hand - %s WHERE id = %s AND on_hand >= %s",
                                   [quantity, product, quantity])
                    if cursor.rowcount != 1:
                        raise RuntimeError("out of stock")
                payment_id = uuid.uuid4().hex
                cursor.execute("INSERT INTO bench_payment (id, amount, method, idem) VALUES (%s, %s, %s, %s)",
                               [payment_id, 5500, "card", key])
            order_id = uuid.uuid4()
            order = Order.objects.create(
                id=order_id, tenant_id=tenant.id, number=order_id.hex[:8], saga_id=uuid.uuid4(), idempotency_key=key,
                status="completed", currency="MMK", subtotal=5500, service_charge_rate=0, tax=262, tax_rate=5,
                tax_inclusive=True, total=5500, grand_total=5500, payment_id=payment_id, payment_method="card",
                placed_at=timezone.now(), completed_at=timezone.now())
            OrderItem.objects.bulk_create([
                OrderItem(tenant_id=tenant.id, order=order, position=0, product_id="bench-noodle", currency="MMK",
                          unit_price=3000, options_total=500, quantity=1, line_total=3500, allocated_total=3500),
                OrderItem(tenant_id=tenant.id, order=order, position=1, product_id="bench-tea", currency="MMK",
                          unit_price=1000, quantity=2, line_total=2000, allocated_total=2000),
            ])
            publish(OrderPlaced(order_id=str(order_id), table_id=None, status="completed", total=5500, currency="MMK",
                                item_count=3), tenant_id=tenant.id, using=alias)

    return place


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000


def report(label: str, elapsed: float, latencies: list[float], errors: int, *, bench: str = "",
           targets: dict[str, tuple[str, float]] | None = None) -> float:
    """Print a run's figures; with `bench`, record them too (throughput, p50, p99; `targets` by those names)."""
    throughput = len(latencies) / elapsed
    print(f"{label:<34} {len(latencies):>5} orders  {throughput:8.1f} orders/s  p50 {percentile(latencies, 50):7.1f} ms"
          f"  p99 {percentile(latencies, 99):7.1f} ms  mean {statistics.mean(latencies) * 1000:7.1f} ms"
          f"  errors {errors}")
    if bench:
        targets = targets or {}
        figures.record(bench, f"{label} orders/s", throughput, "orders/s", target=targets.get("orders/s"))
        figures.record(bench, f"{label} p50", percentile(latencies, 50), "ms", target=targets.get("p50"))
        figures.record(bench, f"{label} p99", percentile(latencies, 99), "ms", target=targets.get("p99"))
    return throughput


def main() -> None:
    with bench_databases():
        _main()


def quiet_logs() -> None:
    """The application's log lines are formatted as in production but written to /dev/null."""
    sink = open(os.devnull, "w")
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sink)


def placement_cost(tenant, key: str) -> dict:
    """What one placement costs each module database (measured alone, after a warm-up)."""
    with measure(list(module_aliases())) as costs:
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=BODY)
    return costs


def profile(tenant, orders: int, top: int = 30) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(orders):
        saga.place_order(tenant_id=tenant.id, idempotency_key=f"profile-{n}", data=BODY)
    profiler.disable()
    print(f"\nprofile of {orders} placements, one terminal (cumulative time, top {top}):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("cumulative").print_stats(top)
    print(f"profile (own time, top {top}):")
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# What a placement calls, by the step it is part of: each wrapped to add up this process's CPU time in it.
STEP_CALLS = (
    ("validate (products, prices, restaurant)", "modules.pos_core.saga", "validate"),
    ("saga start", "modules.pos_core.services", "saga_start"),
    ("inventory.sell_stock", "modules.inventory.api", "sell_stock"),
    ("payment.charge (with the simulated provider)", "modules.payment.api", "charge"),
    ("order recorded (pos_core)", "modules.pos_core.services", "order_record"),
    ("events to the broker (one task)", "pos.events.relay", "enqueue_groups"),
)


def steps(tenant, orders: int) -> None:
    """CPU time of this process per placement, by step (one terminal; `time.process_time`, no profiler)."""
    import importlib

    spent: dict[str, float] = dict.fromkeys([label for label, _, _ in STEP_CALLS], 0.0)
    originals = []

    def timed(label, real):
        def call(*args, **kwargs):
            started = time.process_time()
            try:
                return real(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - started
        return call

    for label, module_name, attribute in STEP_CALLS:
        module = importlib.import_module(module_name)
        originals.append((module, attribute, getattr(module, attribute)))
        setattr(module, attribute, timed(label, getattr(module, attribute)))
    try:
        cpu, wall = time.process_time(), time.perf_counter()
        for n in range(orders):
            saga.place_order(tenant_id=tenant.id, idempotency_key=f"steps-{n}", data=BODY)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    finally:
        for module, attribute, real in originals:
            setattr(module, attribute, real)
    print(f"\nCPU of this process per placement, by step ({orders} placements, one terminal): "
          f"{cpu / orders * 1000:.2f} ms of {wall / orders * 1000:.2f} ms")
    for label, seconds in sorted(spent.items(), key=lambda item: -item[1]):
        print(f"  {label:<46} {seconds / orders * 1000:6.2f} ms")
    print(f"  {'the saga itself (its bookkeeping)':<46} {(cpu - sum(spent.values())) / orders * 1000:6.2f} ms")
    figures.record(BENCH, "saga CPU per placement, this process", cpu / orders * 1000, "ms")


def _main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", "-k", type=int, default=8)
    parser.add_argument("--orders", "-n", type=int, default=25, help="orders per terminal")
    parser.add_argument("--sql", action="store_true", help="list the statements of one placement")
    parser.add_argument("--no-processes", dest="processes", action="store_false",
                        help="skip the runs with each terminal a process of its own")
    parser.add_argument("--rounds", type=int, default=3,
                        help="rounds of K terminals, the saga and the reference taking turns (the ratio: their median)")
    parser.add_argument("--profile", action="store_true", help="cProfile one terminal's placements")
    parser.add_argument("--steps", type=int, default=0, metavar="N",
                        help="also place N orders on one terminal and print this process's CPU time by saga step")
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    quiet_logs()
    mode = "service (PostgreSQL per module, Redis)" if settings.SERVICE_MODE else "embedded (SQLite per module)"
    engines = {alias: connections[alias].vendor for alias in module_aliases()}
    print(f"order placement benchmark: {mode}; databases {engines}; cache {settings.CACHES['default']['BACKEND']}")
    total = (args.terminals * args.orders * (2 if args.processes else 1) * args.rounds + args.orders
             + (60 if args.profile else 0)
             + args.steps)
    tenant = setup_tenant(total + 10)

    saga.place_order(tenant_id=tenant.id, idempotency_key="bench-warm-up", data=BODY)
    costs = placement_cost(tenant, "bench-probe")
    print(f"one placement (saga): {describe(costs)}")
    modules = modules_total(costs)  # the simulated provider's own transactions apart (a real one holds them)
    figures.record(BENCH, "statements per placement (saga)", modules.statements, target=("<=", 30))
    figures.record(BENCH, "commits per placement (saga)", modules.commits, target=("<=", 5))
    figures.record(BENCH, "commits per placement, with the simulated provider's",
                   sum(c.commits for c in costs.values()))
    for alias, cost in costs.items():
        if cost.round_trips:
            figures.record(BENCH, f"statements per placement, {alias}", cost.statements)
            figures.record(BENCH, f"commits per placement, {alias}", cost.commits)
    if args.sql:
        for alias, cost in costs.items():
            for sql in cost.sql:
                print(f"  {alias:<10} {sql[:160]}")

    alias = "pos_core"
    with connections[alias].cursor() as cursor:
        for ddl in REFERENCE_DDL:
            cursor.execute(ddl)
        cursor.execute("DELETE FROM bench_stock")
        cursor.execute("DELETE FROM bench_payment")
        for product in ("bench-noodle", "bench-tea"):
            cursor.execute("INSERT INTO bench_stock (id, on_hand) VALUES (%s, %s)", [product, total * 4])
    reference = reference_place(tenant, alias)
    reference("reference-warm-up")
    with measure([alias]) as reference_costs:
        reference("reference-probe")
    print(f"one placement (one-database reference): {describe(reference_costs)}")

    def placed(key: str) -> None:
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=BODY)

    elapsed, latencies, errors = run(1, args.orders, placed)
    saga_one = report("saga, 1 terminal", elapsed, latencies, errors, bench=BENCH,
                      targets={"p50": ("<=", 25), "p99": ("<=", 60)})
    elapsed, latencies, errors = run(1, args.orders, reference)
    ref_one = report("reference, 1 terminal", elapsed, latencies, errors, bench=BENCH)

    # K terminals: the saga and the reference take turns, round after round, so both meet the same machine (a
    # checkpoint, a busy neighbour); the ratio is the median of the rounds' ratios.
    forms = [("terminals", False)] + ([("terminal processes", True)] if args.processes else [])
    runs: dict[tuple[str, str], list[tuple[float, list[float], int]]] = {}
    for number in range(1, args.rounds + 1):
        for form, processes in forms:
            for name, place in (("saga", placed), ("reference", reference)):
                runs.setdefault((name, form), []).append(run(args.terminals, args.orders, place, processes=processes))
            (saga_s, saga_l, _), (ref_s, ref_l, _) = runs[("saga", form)][-1], runs[("reference", form)][-1]
            print(f"  round {number}, {args.terminals} {form}: saga {len(saga_l) / saga_s:6.1f} orders/s, reference "
                  f"{len(ref_l) / ref_s:6.1f} orders/s: {len(saga_l) / saga_s / (len(ref_l) / ref_s):.2f}x", flush=True)
    ratios = {}
    for form, _ in forms:
        tp = {}
        for name in ("saga", "reference"):
            done = runs[(name, form)]
            tp[name] = report(f"{name}, {args.terminals} {form}", sum(r[0] for r in done),
                              [latency for r in done for latency in r[1]], sum(r[2] for r in done), bench=BENCH)
        ratios[form] = statistics.median(len(s[1]) / s[0] / (len(r[1]) / r[0])
                                         for s, r in zip(runs[("saga", form)], runs[("reference", form)], strict=True))
        figures.record(BENCH, f"saga / reference throughput, {args.terminals} {form}", ratios[form], "x",
                       target=(">=", 0.5))
    figures.record(BENCH, "saga / reference throughput, 1 terminal", figures.ratio(saga_one, ref_one), "x")
    print(f"cost of the boundaries: the saga runs at {saga_one / ref_one:.2f}x the reference's throughput with one "
          f"terminal, {ratios['terminals']:.2f}x with {args.terminals} (median of {args.rounds} round(s))")
    if args.processes:
        print(f"  with each terminal a process of its own (as the web server's workers; both cores in use): "
              f"{ratios['terminal processes']:.2f}x")
    with connections[alias].cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_stock")
        cursor.execute("DROP TABLE IF EXISTS bench_payment")
    if args.steps:
        steps(tenant, args.steps)
    if args.profile:
        profile(tenant, 60)


if __name__ == "__main__":
    main()
