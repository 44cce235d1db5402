"""Scale-out simulation on one machine: several web processes behind a round-robin "load balancer", two Celery
workers and one beat, on PostgreSQL per module and Redis, then the invariants checked across the databases.

What it does (loopback only, bounded in count and time; hard timeout `--timeout`, 300 s by default):
1. creates throw-away PostgreSQL databases `scale_<module>` (127.0.0.1:5432, user postgres, trust auth) and uses
   Redis database 11 (`redis://127.0.0.1:6379/11`), runs `manage.py migrate_all`;
2. starts `--web` gunicorn processes (`config.wsgi:application`, one sync worker each, each on its own port),
   two workers (`celery -A config worker --concurrency 1 -n w1@%h`, `w2`) and one beat; waits for `/readyz`;
3. seeds the demo restaurant (`manage.py seed_demo`), adds three products through inventory's api
   (`manage.py shell -c`) and creates `--terminals` terminals (`manage.py create_terminal`);
4. load: every terminal places `--orders` orders (`POST /api/v1/orders` with an Idempotency-Key), spread
   round-robin over the web ports. A fraction (`--retry-fraction`, 0.2) is sent again with the same key and
   body to a *different* web process, as a terminal on flaky Wi-Fi does: after the first answer was lost, or
   (`--early-share`, half of them) while the first is still running, as when the terminal timed out (a
   "request in progress" 409 is retried shortly, on the next process); then a contention phase: every
   terminal orders a product whose stock (`--scarce-stock`) is smaller than the demand (`--scarce-orders`
   each), so the rest must get 409;
5. waits until every outbox delivery in every module database is delivered, then checks: orders == keys
   answered 201; one captured payment per order (retries replayed, nothing charged twice); inventory's ledger
   agrees with its levels (`manage.py inventory_check_ledger`); no stock or ledger level below zero; stock sold
   == quantities ordered; exactly the scarce stock sold; no reservation or saga left open; pos_core's stock
   levels (table and cache) carry inventory's latest sequence; every delivery delivered, none dead;
6. prints throughput, p50/p99 latency, retries and replays, PASS/FAIL per invariant, and drops the databases,
   flushes Redis database 11 and stops every process it started (also on failure, timeout or Ctrl-C).
Exits 1 if any invariant fails, 2 if the simulation could not run.

    .venv/bin/python bench/scale_out_sim.py [--terminals 8] [--orders 25] [--retry-fraction 0.2] [--web 3]

Not part of `make bench` (it needs PostgreSQL and Redis on this machine and starts its own processes). Uses only
the standard library; the product runs from the project's virtualenv.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from cluster import (  # the shared harness beside this script (bench/ is on the path when run as a script)
    MODULES,
    PYTHON,
    Answer,
    ClusterError,
    Databases,
    Processes,
    free_ports,
    manage,
    percentile,
    request,
    tail,
    wait_ready,
)
from cluster import redis_flush as flush_redis_db
from cluster import service_env as cluster_env

REDIS_HOST, REDIS_PORT, REDIS_DB = "127.0.0.1", 6379, 11
DATABASES = Databases("scale")
DB = DATABASES.names
PRODUCTS = ("sim-noodle", "sim-tea")
SCARCE = "sim-scarce"
SimulationError = ClusterError  # the simulation could not run (a process did not start, a command failed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", "-k", type=int, default=8)
    parser.add_argument("--orders", "-n", type=int, default=25, help="orders per terminal in the main phase")
    parser.add_argument("--retry-fraction", type=float, default=0.2,
                        help="share of requests sent again (same key and body) to another web process")
    parser.add_argument("--early-share", type=float, default=0.5,
                        help="share of those sent again while the first is still running (the terminal timed out); "
                             "the others are sent after the first answer (it was lost)")
    parser.add_argument("--web", type=int, default=3, help="web processes (one gunicorn worker each)")
    parser.add_argument("--scarce-stock", type=int, default=10, help="stock of the product of the contention phase")
    parser.add_argument("--scarce-orders", type=int, default=3, help="orders per terminal for that product")
    parser.add_argument("--timeout", type=float, default=300, help="hard limit for the whole run, seconds")
    parser.add_argument("--seed", type=int, default=7, help="random seed (which requests are retried)")
    parser.add_argument("--keep-logs", action="store_true", help="keep the processes' logs even when it passes")
    args = parser.parse_args()
    if args.terminals < 1 or args.orders < 1 or args.web < 2 or not 0 <= args.retry_fraction <= 1 \
            or not 0 <= args.early_share <= 1:
        parser.error("need --terminals >= 1, --orders >= 1, --web >= 2, --retry-fraction and --early-share "
                     "in [0, 1]")
    if args.terminals * args.orders > 2000 or args.terminals > 32:
        parser.error("bounded: at most 32 terminals and 2000 orders")
    if args.scarce_stock < 1 or args.terminals * args.scarce_orders <= args.scarce_stock:
        parser.error("the contention phase needs --terminals x --scarce-orders > --scarce-stock >= 1")
    return args


# --- environment, databases, Redis (the harness is bench/cluster.py) ----------------------------------------

def service_env(var_dir: Path) -> dict[str, str]:
    return cluster_env(DATABASES, f"redis://{REDIS_HOST}:{REDIS_PORT}/{REDIS_DB}", var_dir)


def psql(module: str, sql: str) -> list[list[str]]:
    return DATABASES.rows(module, sql)


def psql_value(module: str, sql: str) -> int:
    return DATABASES.value(module, sql)


def drop_databases() -> None:
    DATABASES.drop()


def create_databases() -> None:
    DATABASES.create()


def redis_flush() -> None:
    flush_redis_db(REDIS_HOST, REDIS_PORT, REDIS_DB)


# --- HTTP ---------------------------------------------------------------------------------------------------

@dataclass
class Outcome:
    key: str
    phase: str
    body: dict
    first: Answer | None = None
    retry: Answer | None = None
    early: bool = False
    transport_errors: int = 0
    answers: list = field(default_factory=list)

    @property
    def final(self) -> Answer | None:
        """The key's outcome: an order if either request created or replayed one (a refusal is not stored, so a
        request sent again after a 409 runs again)."""
        answers = [a for a in (self.first, self.retry) if a is not None]
        return next((a for a in answers if a.status == 201), answers[-1] if answers else None)

    def replay_ok(self) -> bool:
        """Sent twice: one order at most, and a second 201 is the replay of the first."""
        a, b = self.first, self.retry
        if a.status == b.status == 201:
            same = a.body.get("id") == b.body.get("id")
            return same and (b.replayed and not a.replayed if not self.early else a.replayed != b.replayed)
        if 201 in (a.status, b.status):  # a refusal, then the other request ran again and got the stock
            refused, created = (a, b) if b.status == 201 else (b, a)
            return (self.phase == "scarce" and refused.status == 409 and not created.replayed
                    and (self.early or refused is a))
        return self.phase == "scarce" and a.status == b.status == 409

    @property
    def order_id(self) -> str | None:
        answer = self.final
        return answer.body.get("id") if answer and answer.status == 201 and isinstance(answer.body, dict) else None


class LoadBalancer:
    """Round-robin over the web ports, as a load balancer would; `other(port)` picks another process."""

    def __init__(self, ports: list[int]) -> None:
        self.ports, self._counter, self._lock = ports, itertools.count(), threading.Lock()

    def next(self) -> int:
        with self._lock:
            return self.ports[next(self._counter) % len(self.ports)]

    def other(self, port: int) -> int:
        return self.ports[(self.ports.index(port) + 1) % len(self.ports)]


def send(outcome: Outcome, port: int, token: str, stop: threading.Event) -> tuple[Answer, int]:
    """POST the order; a connection error or a 409 "still in progress" is retried (same key, next process)."""
    for _attempt in range(6):
        if stop.is_set():
            raise SimulationError("stopped")
        try:
            answer = request("POST", port, "/api/v1/orders", token, outcome.body, outcome.key)
        except (urllib.error.URLError, OSError, TimeoutError):
            outcome.transport_errors += 1
            port = LB.other(port)
            time.sleep(0.2)
            continue
        in_progress = (answer.status == 409 and isinstance(answer.body, dict)
                       and "in-progress" in str(answer.body.get("type")))
        outcome.answers.append((port, answer.status, answer.replayed, in_progress))
        if in_progress:
            time.sleep(0.2)
            continue
        return answer, port
    raise SimulationError(f"order {outcome.key}: no answer after 6 attempts")


LB: LoadBalancer  # set in main()


def send_first(outcome: Outcome, port: int, token: str, stop: threading.Event) -> None:
    try:
        outcome.first, _ = send(outcome, port, token, stop)
    except SimulationError:
        pass  # outcome.first stays None; the caller reports it


def terminal_run(index: int, token: str, bodies: list[tuple[str, dict]], retry_fraction: float, early_share: float,
                 seed: int, barrier: threading.Barrier, stop: threading.Event) -> list[Outcome]:
    rng = random.Random(seed * 1000 + index)
    outcomes = []
    barrier.wait(timeout=60)
    for key, body in bodies:
        outcome = Outcome(key=key, phase="", body=body)
        port = LB.next()
        if rng.random() >= retry_fraction:
            outcome.first, _ = send(outcome, port, token, stop)
        elif rng.random() >= early_share:  # the first answer was lost on the way back: send it again elsewhere
            outcome.first, port = send(outcome, port, token, stop)
            outcome.retry, _ = send(outcome, LB.other(port), token, stop)
        else:  # the terminal gave up waiting and sent it again elsewhere while the first was still running
            outcome.early = True
            first = threading.Thread(target=send_first, args=(outcome, port, token, stop))
            first.start()
            time.sleep(rng.uniform(0.01, 0.15))
            outcome.retry, _ = send(outcome, LB.other(port), token, stop)
            first.join()
            if outcome.first is None:
                raise SimulationError(f"order {key}: the first request got no answer")
        outcomes.append(outcome)
    return outcomes


def run_phase(name: str, tokens: list[str], bodies_for, args: argparse.Namespace, seed: int,
              stop: threading.Event) -> tuple[list[Outcome], float]:
    barrier = threading.Barrier(len(tokens))
    started = time.perf_counter()
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=len(tokens))
    futures = [pool.submit(terminal_run, i, token, bodies_for(i), args.retry_fraction, args.early_share,
                           seed, barrier, stop)
               for i, token in enumerate(tokens)]
    try:
        outcomes = [o for f in futures for o in f.result()]
    except BaseException:  # a timeout or Ctrl-C: the terminals stop at their next request
        stop.set()
        barrier.abort()
        pool.shutdown(wait=False, cancel_futures=True)
        raise
    pool.shutdown()
    for outcome in outcomes:
        outcome.phase = name
    return outcomes, time.perf_counter() - started


# --- the simulation ---------------------------------------------------------------------------------------

SETUP = """
from modules.accounts import api as accounts
from modules.inventory import api as inventory
t = accounts.get_tenant_by_slug("demo")
egg = [{"key": "extras", "names": {"en": "Extras", "my": "Extras"}, "min_select": 0, "max_select": 1,
        "choices": [{"key": "egg", "names": {"en": "Egg", "my": "Egg"}, "price_delta": 500}]}]
for pid, name, price, groups, qty in [("sim-noodle", "Sim noodle", 3000, egg, %(big)d),
                                      ("sim-tea", "Sim tea", 1000, None, %(big)d),
                                      ("sim-scarce", "Sim special", 2500, None, %(scarce)d)]:
    inventory.create_product(tenant_id=t.id, product_id=pid, names={"en": name, "my": name}, price=price,
                             option_groups=groups)
    inventory.adjust_stock(tenant_id=t.id, product_id=pid, variant=None, kind="receive", quantity=qty,
                           reason="scale-out simulation", actor="scale_out_sim")
print(t.id)
"""


def order_body(n: int) -> dict:
    body = {"items": [{"product_id": "sim-noodle", "quantity": 1, "options": ["egg"]},
                      {"product_id": "sim-tea", "quantity": 1 + n % 2}], "payment": {"method": "card"}}
    if n % 3 == 0:  # some cash, handed over generously (the payment rounds and records the change)
        body["payment"] = {"method": "cash", "tendered": 10000}
    return body


def main() -> int:
    args = parse_args()
    log_dir = Path(tempfile.mkdtemp(prefix="scale_out_sim_"))
    env = service_env(log_dir / "var")
    stop = threading.Event()
    watchdog = threading.Timer(args.timeout, lambda: (stop.set(), os.kill(os.getpid(), signal.SIGINT)))
    watchdog.daemon = True
    previous_term = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    processes = Processes(env, log_dir)
    status, passed = 2, False
    started = time.monotonic()
    watchdog.start()
    try:
        passed = simulate(args, env, processes, stop, started)
        status = 0 if passed else 1
    except KeyboardInterrupt:
        timed_out = time.monotonic() - started >= args.timeout - 1
        print(f"\nstopped: {f'hard timeout of {args.timeout:.0f} s reached' if timed_out else 'interrupted'}")
    except (SimulationError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"\nthe simulation could not run: {exc}")
        for process in processes.items:
            if process.popen.poll() is not None or "web" in process.name:
                print(f"--- {process.name} (last lines of {process.log})\n{tail(process.log, 15)}")
    finally:
        watchdog.cancel()
        stop.set()
        print("cleaning up: stopping processes, dropping scale_* databases, flushing Redis database "
              f"{REDIS_DB} ...", flush=True)
        processes.stop_all()
        drop_databases()
        try:
            redis_flush()
        except (OSError, SimulationError) as exc:
            print(f"  could not flush Redis database {REDIS_DB}: {exc}")
        signal.signal(signal.SIGTERM, previous_term)
        if passed and not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"  process logs kept in {log_dir}")
    return status


def simulate(args: argparse.Namespace, env: dict, processes: Processes, stop: threading.Event, t0: float) -> bool:
    global LB
    step = lambda text: print(f"[{time.monotonic() - t0:6.1f}s] {text}", flush=True)  # noqa: E731

    step(f"creating databases {', '.join(DB.values())}; Redis database {REDIS_DB}")
    redis_flush()
    create_databases()
    manage(env, "migrate_all", timeout=240)

    ports = free_ports(args.web)
    step(f"starting {args.web} web processes on ports {ports}, 2 workers, 1 beat")
    for i, port in enumerate(ports, 1):
        processes.start(f"web{i}", [PYTHON, "-m", "gunicorn", "config.wsgi:application", "--workers", "1",
                                    "--bind", f"127.0.0.1:{port}", "--no-control-socket", "--timeout", "60",
                                    "--log-level", "warning"])
    for name in ("w1", "w2"):
        processes.start(f"worker-{name}", [PYTHON, "-m", "celery", "-A", "config", "worker", "--concurrency", "1",
                                           "-n", f"{name}@%h", "-l", "WARNING"])
    beat_dir = Path(env["POS_VAR_DIR"]).parent
    processes.start("beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
                             "-s", str(beat_dir / "celerybeat-schedule"), "--pidfile", str(beat_dir / "beat.pid")])

    big = args.terminals * args.orders * 3 + 50
    step("seeding the demo restaurant and the simulation's products")
    manage(env, "seed_demo")
    tenant_id = manage(env, "shell", "-c", SETUP % {"big": big, "scarce": args.scarce_stock}).stdout.split()[-1]
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        tokens = list(pool.map(lambda i: manage(env, "create_terminal", "--tenant", "demo", "--name",
                                                 f"Sim terminal {i + 1}").stdout.strip().splitlines()[-1],
                               range(args.terminals)))
    wait_ready(ports, processes, time.monotonic() + 60)
    step(f"tenant {tenant_id}, {len(tokens)} terminals; /readyz answers on every web port")
    LB = LoadBalancer(ports)

    run_id = uuid.uuid4().hex[:6]
    step(f"main phase: {args.terminals} terminals x {args.orders} orders, {args.retry_fraction:.0%} sent twice")
    main_outcomes, main_seconds = run_phase(
        "main", tokens, lambda i: [(f"sim-{run_id}-t{i}-n{n}", order_body(n)) for n in range(args.orders)],
        args, args.seed, stop)
    processes.check_alive()
    demand = args.terminals * args.scarce_orders
    step(f"contention phase: {demand} orders of {SCARCE!r} for {args.scarce_stock} in stock")
    scarce_body = {"items": [{"product_id": SCARCE, "quantity": 1}], "payment": {"method": "card"}}
    scarce_outcomes, scarce_seconds = run_phase(
        "scarce", tokens, lambda i: [(f"sim-{run_id}-t{i}-s{n}", scarce_body) for n in range(args.scarce_orders)],
        args, args.seed + 1, stop)
    outcomes = main_outcomes + scarce_outcomes

    step("waiting until every outbox delivery is delivered")
    drained_after = wait_deliveries(time.monotonic() + max(10.0, args.timeout - (time.monotonic() - t0) - 40))
    processes.check_alive()
    step(f"deliveries drained {drained_after:.1f}s after the load")

    report_load(args, main_outcomes, main_seconds, scarce_outcomes, scarce_seconds)
    results = check_invariants(args, env, outcomes, tokens[0], ports, big)
    print("\ninvariants")
    for name, ok, detail in results:
        print(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")
    failed = [name for name, ok, _ in results if not ok]
    print(f"\n{'PASS' if not failed else 'FAIL'}: {len(results) - len(failed)}/{len(results)} invariants hold"
          f"{'' if not failed else ' (failed: ' + '; '.join(failed) + ')'}; "
          f"total {time.monotonic() - t0:.1f}s")
    return not failed


def undelivered() -> int:
    return sum(psql_value(module, "SELECT count(*) FROM pos_eventdelivery WHERE status = 'pending'")
               for module in MODULES)


def wait_deliveries(deadline: float) -> float:
    started = time.monotonic()
    while True:
        left = undelivered()
        if left == 0:
            return time.monotonic() - started
        if time.monotonic() > deadline:
            print(f"  {left} deliveries still pending at the deadline")
            return time.monotonic() - started
        time.sleep(0.5)


def report_load(args, main_outcomes: list[Outcome], main_seconds: float, scarce_outcomes: list[Outcome],
                scarce_seconds: float) -> None:
    for label, outcomes, seconds in (("main", main_outcomes, main_seconds),
                                     ("contention", scarce_outcomes, scarce_seconds)):
        firsts = [o.first.seconds for o in outcomes]
        created = sum(1 for o in outcomes if o.final.status == 201)
        statuses: dict[int, int] = {}
        for o in outcomes:
            statuses[o.final.status] = statuses.get(o.final.status, 0) + 1
        retried = [o for o in outcomes if o.retry]
        early = [o for o in retried if o.early]
        replayed = sum(1 for o in retried if o.retry.replayed or o.first.replayed)
        requests = sum(len(o.answers) for o in outcomes)
        in_progress = sum(1 for o in outcomes for answer in o.answers if answer[3])
        transport = sum(o.transport_errors for o in outcomes)
        print(f"\n{label} phase: {len(outcomes)} orders ({requests} requests over {args.web} web processes) "
              f"in {seconds:.2f}s")
        print(f"  {created / seconds:.1f} orders/s created; latency of first attempts p50 "
              f"{percentile(firsts, 50):.1f} ms, p99 {percentile(firsts, 99):.1f} ms, "
              f"mean {statistics.mean(firsts) * 1000:.1f} ms")
        print(f"  final answers {dict(sorted(statuses.items()))}; sent twice to two processes {len(retried)} "
              f"({len(retried) - len(early)} after a lost answer, {len(early)} while the first was running), "
              f"answered by a replay {replayed}; 'in progress' 409s {in_progress}; connection errors {transport}")


def check_invariants(args, env: dict, outcomes: list[Outcome], token: str, ports: list[int], big: int
                     ) -> list[tuple[str, bool, str]]:
    results: list[tuple[str, bool, str]] = []

    def check(name: str, ok: bool, detail: str) -> None:
        results.append((name, bool(ok), detail))

    unexpected = [(o.key, o.final.status, o.final.body) for o in outcomes
                  if not (o.final.status == 201 or (o.phase == "scarce" and o.final.status == 409))]
    check("every order answered 201 (or 409 for the scarce product)", not unexpected,
          f"{len(unexpected)} other answers" + (f", first {unexpected[0]}" if unexpected else ""))

    created_ids = {o.order_id for o in outcomes if o.order_id}
    keys_201 = {o.key for o in outcomes if o.final.status == 201}
    db_orders = {row[0]: row for row in psql("pos_core", "SELECT id, payment_id, grand_total, status, "
                                                         "idempotency_key FROM pos_core_order")}
    check("orders == distinct keys answered 201", len(db_orders) == len(keys_201) and set(db_orders) == created_ids,
          f"{len(db_orders)} orders in pos_core, {len(keys_201)} keys answered 201, "
          f"ids equal: {set(db_orders) == created_ids}")

    retried = [o for o in outcomes if o.retry]
    wrong = [(o.key, o.first.status, o.first.replayed, o.retry.status, o.retry.replayed) for o in retried
             if not o.replay_ok()]
    check("a request sent twice to two processes creates one order; the second answer is a replay", not wrong,
          f"{len(retried)} sent twice ({sum(1 for o in retried if o.early)} concurrently): "
          f"{sum(1 for o in retried if o.first.replayed or o.retry.replayed)} answered by a replay of the same order, "
          f"{sum(1 for o in retried if o.final.status == 409)} refused twice (409 is not stored)"
          + (f"; wrong (key, first, replayed, second, replayed): {wrong[:3]}" if wrong else ""))

    payments = {row[0]: row for row in psql("payment", "SELECT id, status, captured_amount, idempotency_key "
                                                       "FROM payment_payment")}
    captured = {pid for pid, row in payments.items() if row[1] == "captured"}
    order_payments = [row[1] for row in db_orders.values()]
    paid_sum = sum(int(payments[p][2]) for p in order_payments if p in payments)
    order_sum = sum(int(row[2]) for row in db_orders.values())
    check("one captured payment per order (nothing charged twice)",
          len(captured) == len(db_orders) == len(payments) and set(order_payments) == captured
          and paid_sum == order_sum,
          f"{len(payments)} payments, {len(captured)} captured, {len(db_orders)} orders, "
          f"captured {paid_sum} == order totals {order_sum}: {paid_sum == order_sum}")

    ledger = manage(env, "inventory_check_ledger", check=False)
    check("inventory ledger agrees with levels (inventory_check_ledger)", ledger.returncode == 0,
          (ledger.stdout.strip().splitlines() or ["(no output)"])[-1] + f" (exit {ledger.returncode})")

    negative = psql_value("inventory", "SELECT count(*) FROM inventory_stockitem WHERE on_hand < 0 OR reserved < 0 "
                                       "OR reserved > on_hand")
    negative_ledger = psql_value("inventory", "SELECT count(*) FROM inventory_movement WHERE on_hand_after < 0 "
                                              "OR reserved_after < 0 OR reserved_after > on_hand_after")
    check("stock never negative (levels and every ledger row)", negative == 0 and negative_ledger == 0,
          f"{negative} stock items, {negative_ledger} ledger rows out of bounds")

    levels = {(r[0], r[1]): (int(r[2]), int(r[3]), int(r[4])) for r in psql(
        "inventory", "SELECT product_id, variant, on_hand, reserved, sequence FROM inventory_stockitem")}
    sold = {pid: int(q) for pid, q in psql("pos_core", "SELECT product_id, sum(quantity) FROM pos_core_orderitem "
                                                       "GROUP BY product_id")}
    initial = {"sim-noodle": big, "sim-tea": big, SCARCE: args.scarce_stock}
    mismatched = {pid: (initial[pid] - levels[(pid, "")][0], sold.get(pid, 0)) for pid in initial
                  if initial[pid] - levels[(pid, "")][0] != sold.get(pid, 0)}
    check("stock taken by inventory == quantities in pos_core's orders", not mismatched,
          ", ".join(f"{pid} {initial[pid] - levels[(pid, '')][0]}" for pid in initial)
          + (f"; mismatched (inventory, orders): {mismatched}" if mismatched else ""))

    scarce_201 = sum(1 for o in outcomes if o.phase == "scarce" and o.final.status == 201)
    scarce_409 = sum(1 for o in outcomes if o.phase == "scarce" and o.final.status == 409)
    demand = args.terminals * args.scarce_orders
    check("contention: exactly the scarce stock sold, the rest refused with 409",
          scarce_201 == args.scarce_stock and scarce_409 == demand - args.scarce_stock
          and levels[(SCARCE, "")][0] == 0,
          f"{scarce_201} sold of {args.scarce_stock}, {scarce_409} refused of {demand} asked, "
          f"on hand now {levels[(SCARCE, '')][0]}")

    active = psql_value("inventory", "SELECT count(*) FROM inventory_reservation WHERE status = 'active'")
    sagas = dict((r[0], int(r[1])) for r in psql("pos_core", "SELECT status, count(*) FROM pos_core_ordersaga "
                                                             "GROUP BY status"))
    open_sagas = {s: n for s, n in sagas.items() if s in ("running", "compensating", "failed")}
    check("no reservation or saga left open", active == 0 and not open_sagas
          and sagas.get("completed", 0) == len(db_orders),
          f"{active} active reservations; sagas {dict(sorted(sagas.items()))}")

    cached = {(r[0], r[1]): (int(r[2]), int(r[3])) for r in psql(
        "pos_core", "SELECT product_id, variant, level, sequence FROM pos_core_stocklevel")}
    behind = {item: (cached.get(item), (on_hand - reserved, seq)) for item, (on_hand, reserved, seq) in levels.items()
              if seq > 0 and cached.get(item) != (on_hand - reserved, seq)}
    check("pos_core's stock levels carry inventory's latest sequence (every item)", not behind,
          f"{len(levels)} stock items compared" + (f"; differ (pos_core, inventory): {behind}" if behind else ""))

    items = ",".join((*PRODUCTS, SCARCE))
    answer = request("GET", ports[0], f"/api/v1/stock-levels?items={items}", token)
    served = {row["product_id"]: row for row in answer.body} if answer.status == 200 else {}
    stale = {pid: (served.get(pid, {}).get("sequence"), levels[(pid, "")][2]) for pid in (*PRODUCTS, SCARCE)
             if served.get(pid, {}).get("sequence") != levels[(pid, "")][2]
             or served[pid]["level"] != levels[(pid, "")][0] - levels[(pid, "")][1]}
    check("the stock cache (GET stock-levels) serves inventory's latest level", answer.status == 200 and not stale,
          f"HTTP {answer.status}; sources {sorted({row.get('source') for row in served.values()})}"
          + (f"; stale (cache, inventory): {stale}" if stale else ""))

    deliveries: dict[str, dict[str, int]] = {}
    events: dict[str, dict[str, int]] = {}
    for module in MODULES:
        deliveries[module] = {r[0]: int(r[1]) for r in psql(
            module, "SELECT status, count(*) FROM pos_eventdelivery GROUP BY status")}
        events[module] = {r[0]: int(r[1]) for r in psql(
            module, "SELECT status, count(*) FROM pos_outboxevent GROUP BY status")}
    not_done = {m: {s: n for s, n in d.items() if s != "delivered"} for m, d in deliveries.items()}
    not_done.update({f"{m} events": {s: n for s, n in d.items() if s != "delivered"} for m, d in events.items()})
    not_done = {m: d for m, d in not_done.items() if d}
    stats = manage(env, "events", "stats", check=False).stdout.strip().splitlines()
    check("every outbox delivery delivered, none dead", not not_done,
          f"{sum(sum(d.values()) for d in deliveries.values())} deliveries of "
          f"{sum(sum(d.values()) for d in events.values())} events; events stats: {stats[-1] if stats else '?'}"
          + (f"; not delivered: {not_done}" if not_done else ""))
    return results


if __name__ == "__main__":
    sys.exit(main())
