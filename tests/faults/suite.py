"""The fault suite: the whole product in service mode under the faults a restaurant's network, servers and
providers inflict, with money and stock checked across the module databases after each.

    make faults                    # every scenario (under 15 minutes on 2 cores)
    make faults PROFILE=short      # the short profile CI runs (about 5 minutes)
    .venv/bin/python -m tests.faults --scenario pg-kill-4 --scenario redis-down   # some scenarios only

What runs (all on this machine, all stopped and dropped at the end, also on failure or Ctrl-C):
- PostgreSQL databases `faults_<module>` (127.0.0.1:5432, user postgres), migrated with `migrate_all`;
- a redis-server of the suite's own on a free port (broker and cache), which a scenario may stop;
- two gunicorn processes with threaded workers (8 requests at once, so orders truly race at the reservation),
  two Celery workers and one beat (bench/cluster.py).

Terminals are threads acting as tablets on flaky Wi-Fi: every order and refund carries its own
Idempotency-Key and is sent again with the same key after a timeout, a 5xx, a dropped connection or a lost
answer (the client throws some answers away on purpose), to any web process. Each key ends in a history:
2xx, 4xx, or unknown (no final answer before the terminal gave up).

After each scenario the system is left to recover (beat's sweeps, saga recovery, pending-payment resolution,
reservation expiry) and a checker reads the histories and the databases:
- every key answered 2xx has exactly one order and one net capture equal to the order's total less refunds;
- keys answered 4xx net zero (no order, nothing kept by payment);
- unknown keys end with one order or none, never two, and nothing charged without an order;
- refunds: one per refund key answered 2xx, none for 4xx; each order's refunds agree with its payment's;
- stock is conserved (taken by inventory == sold in orders) and never negative; no reservation outlives its TTL;
- the outbox drains (nothing pending, nothing dead); no saga is left unfinished;
- `manage.py reconcile` is clean and `inventory_check_ledger` agrees.
It prints one table row per scenario and exits 1 on any violation, 2 if the suite could not run.

Recovery that needs an operator is written in the README ("Fault suite"); the suite performs exactly those
steps (restart the processes; nothing else) in the kill-everything scenario.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.cluster import (
    ClusterError,
    Databases,
    Processes,
    RedisServer,
    free_ports,
    manage,
    request,
    service_env,
    tail,
    wait_ready,
)

TENANT_SLUG = "demo"
CLIENT_TIMEOUT = 8.0  # a terminal gives up waiting for an answer after this, then sends again
LOST_ANSWER_SHARE = 0.05  # answers the Wi-Fi "loses" on the way back: the terminal sends again
SETTLE_SECONDS = 90  # how long recovery may take after a scenario before the checker calls it stuck
REPLAY_SECONDS = 180  # how long handling a replay of the whole run again may take (thousands of deliveries)

# Short intervals so recovery happens within a scenario, not within the production defaults' minutes.
ENV = {
    "EVENTS_SWEEP_MS": "1000", "EVENTS_SWEEP_GRACE_MS": "500", "EVENTS_REENQUEUE_MS": "4000",
    "EVENTS_CLAIM_MS": "8000", "EVENTS_RETRY_BASE_MS": "500", "EVENTS_RETRY_MAX_MS": "4000",
    "EVENTS_MAX_ATTEMPTS": "12", "EVENTS_BROKER_COOLDOWN_MS": "1000",
    # A reservation outlives a dead request's saga lease (30 s) plus recovery's stuck time, as in production
    # (15 minutes against 30 s), so recovery finishes the order rather than the TTL failing it.
    "INVENTORY_RESERVATION_TTL_SECONDS": "45", "INVENTORY_EXPIRY_SWEEP_SECONDS": "2",
    "PAYMENT_PENDING_GRACE_SECONDS": "3", "PAYMENT_RESOLVE_PENDING_EVERY_SECONDS": "3",
    "POS_SAGA_RECOVERY_INTERVAL": "2", "POS_SAGA_STUCK_SECONDS": "6",
    # Connections closed after each request: PostgreSQL here allows 100 for everyone on the machine.
    "DB_CONN_MAX_AGE": "0", "CELERY_VISIBILITY_TIMEOUT": "30",
}

SETUP = """
from modules.accounts import api as accounts
from modules.inventory import api as inventory
t = accounts.get_tenant_by_slug("demo")
for pid, price, qty in %(products)r:
    inventory.create_product(tenant_id=t.id, product_id=pid, names={"en": pid, "my": pid}, price=price)
    inventory.adjust_stock(tenant_id=t.id, product_id=pid, variant=None, kind="receive", quantity=qty,
                           reason="fault suite", actor="faults")
print(t.id)
"""

BEHAVIOUR = """
from modules.accounts import api as accounts
from modules.payment.models import ProviderBehaviour
from pos.tenancy import tenant_context
t = accounts.get_tenant_by_slug("demo")
with tenant_context(t.id):
    ProviderBehaviour.objects.using("payment").filter(tenant_id=t.id).delete()
    for method, behaviour in %(behaviours)r.items():
        ProviderBehaviour.objects.using("payment").create(tenant_id=t.id, method=method, charge_behaviour=behaviour,
                                                          delay_ms=200)
"""


# --- the terminals ------------------------------------------------------------------------------------------

@dataclass
class History:
    """What one Idempotency-Key lived through, as the terminal saw it."""

    key: str
    kind: str  # order | refund
    scenario: str
    attempts: list[str] = field(default_factory=list)
    final: str = "unknown"  # 2xx | 4xx | unknown
    status: int | None = None
    order_id: str | None = None
    body: dict | None = None
    problem: str = ""  # a 4xx answer's problem type


class Terminals:
    """Terminal threads placing orders (and refunding some) through the web processes, retrying like a
    tablet on flaky Wi-Fi."""

    def __init__(self, ports: list[int], tokens: list[str], rng_seed: int) -> None:
        self.ports = ports
        self.tokens = tokens
        self.rng_seed = rng_seed
        self.histories: list[History] = []
        self._lock = threading.Lock()
        self._rr = itertools.count()

    def port(self) -> int:
        with self._lock:
            return self.ports[next(self._rr) % len(self.ports)]

    def send(self, history: History, path: str, body: dict, token: str, rng: random.Random,
             give_up_at: float) -> None:
        while True:
            if time.monotonic() > give_up_at:
                return  # stays unknown unless an answer came
            try:
                answer = request("POST", self.port(), path, token, body, history.key, timeout=CLIENT_TIMEOUT)
            except OSError as exc:  # timeout, refused, reset: the terminal does not know what happened
                history.attempts.append(type(exc).__name__)
                time.sleep(rng.uniform(0.2, 0.8))
                continue
            if answer.status >= 500:
                history.attempts.append(str(answer.status))
                time.sleep(rng.uniform(0.2, 0.8))
                continue
            in_progress = answer.status == 409 and "in-progress" in str((answer.body or {}).get("type", ""))
            if in_progress:
                history.attempts.append("409-in-progress")
                time.sleep(0.3)
                continue
            if rng.random() < LOST_ANSWER_SHARE:  # the answer never reached the tablet
                history.attempts.append(f"{answer.status}-lost")
                continue
            history.attempts.append(str(answer.status) + ("-replayed" if answer.replayed else ""))
            history.status = answer.status
            history.final = "2xx" if answer.status < 300 else "4xx"
            if isinstance(answer.body, dict):
                history.order_id = answer.body.get("order_id") or answer.body.get("id")
                if answer.status >= 400:
                    history.problem = str(answer.body.get("type", "")).rsplit("/", 1)[-1]
            return

    def run(self, scenario: str, bodies: Callable[[int, int], dict], *, orders_per_terminal: int,
            terminals: int, refund_share: float = 0.2, give_up_seconds: float = 60, start_together: bool = False,
            until: threading.Event | None = None, pause: float = 0.0) -> list[History]:
        """Each terminal places `orders_per_terminal` orders, and goes on (up to five times as many) until
        `until` is set, so a fault with a duration has load all along; `pause`: up to that many seconds
        between a terminal's orders, so the load spreads over the fault instead of racing ahead of it."""
        barrier = threading.Barrier(terminals) if start_together else None
        run_id = uuid.uuid4().hex[:6]

        def terminal(index: int) -> list[History]:
            rng = random.Random(self.rng_seed * 1000 + index)
            token = self.tokens[index % len(self.tokens)]
            mine = []
            if barrier is not None:
                barrier.wait(timeout=120)
            for n in range(orders_per_terminal * 5):
                if n >= orders_per_terminal and (until is None or until.is_set()):
                    break
                if pause and n:
                    time.sleep(rng.uniform(0, pause))
                order = History(key=f"f-{scenario}-{run_id}-t{index}-o{n}", kind="order", scenario=scenario,
                                body=bodies(index, n))
                self.send(order, "/api/v1/orders", order.body, token, rng, time.monotonic() + give_up_seconds)
                mine.append(order)
                if order.final == "2xx" and order.order_id and rng.random() < refund_share:
                    refund = History(key=f"{order.key}-r", kind="refund", scenario=scenario, order_id=order.order_id,
                                     body={"amount": 100, "reason": "fault suite"})
                    self.send(refund, f"/api/v1/orders/{order.order_id}/refund", refund.body, token, rng,
                              time.monotonic() + give_up_seconds)
                    mine.append(refund)
            return mine

        with concurrent.futures.ThreadPoolExecutor(max_workers=terminals) as pool:
            histories = [h for result in pool.map(terminal, range(terminals)) for h in result]
        self.histories.extend(histories)
        return histories


# --- the deployment -----------------------------------------------------------------------------------------

class Deployment:
    def __init__(self, work: Path, *, web_workers: int, web_threads: int) -> None:
        self.work = work
        self.databases = Databases(os.environ.get("FAULTS_DB_PREFIX") or "faults")
        self.redis = RedisServer(work / "redis")
        self.env = service_env(self.databases, self.redis.url, work / "var", **ENV)
        self.processes = Processes(self.env, work)
        self.web_workers, self.web_threads = web_workers, web_threads
        self.ports = free_ports(2)
        self.tokens: list[str] = []
        self.stock: dict[str, int] = {}

    def up(self, products: list[tuple[str, int, int]], terminals: int) -> None:
        self.redis.start()
        self.databases.create()
        manage(self.env, "migrate_all", timeout=300)
        manage(self.env, "seed_demo", timeout=180)
        manage(self.env, "shell", "-c", SETUP % {"products": products}, timeout=120)
        self.stock.update({pid: qty for pid, _, qty in products})
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            self.tokens = list(pool.map(
                lambda i: manage(self.env, "create_terminal", "--tenant", TENANT_SLUG, "--name",
                                 f"Fault terminal {i + 1}").stdout.strip().splitlines()[-1], range(terminals)))
        self.start_processes()

    def start_processes(self) -> None:
        for i, port in enumerate(self.ports, 1):
            self.processes.web(f"web{i}", port, workers=self.web_workers, threads=self.web_threads)
        self.processes.worker("w1")
        self.processes.worker("w2")
        self.processes.beat(self.work)
        wait_ready(self.ports, self.processes, time.monotonic() + 90)

    def add_stock(self, products: list[tuple[str, int, int]]) -> None:
        manage(self.env, "shell", "-c", SETUP % {"products": products}, timeout=120)
        self.stock.update({pid: qty for pid, _, qty in products})

    def provider(self, behaviours: dict[str, str]) -> None:
        manage(self.env, "shell", "-c", BEHAVIOUR % {"behaviours": behaviours}, timeout=60)

    def down(self) -> None:
        self.processes.stop_all()
        self.redis.stop()
        self.databases.drop()


# --- the checker --------------------------------------------------------------------------------------------

@dataclass
class Verdict:
    name: str
    ok: bool
    detail: str


def settle(deployment: Deployment, deadline: float) -> float:
    """Wait until recovery is done: no pending delivery, no running or compensating saga, no active
    reservation, no pending payment or refund (on either side). Returns the seconds it took (or waited)."""
    db = deployment.databases
    started = time.monotonic()
    while time.monotonic() < deadline:
        busy = (sum(db.value(m, "SELECT count(*) FROM pos_eventdelivery WHERE status = 'pending'")
                    for m in db.names)
                + db.value("pos_core", "SELECT count(*) FROM pos_core_ordersaga WHERE status IN "
                                       "('running', 'compensating')")
                + db.value("inventory", "SELECT count(*) FROM inventory_reservation WHERE status = 'active'")
                + db.value("payment", "SELECT count(*) FROM payment_payment WHERE status = 'pending'")
                + db.value("payment", "SELECT count(*) FROM payment_refund WHERE status = 'pending'")
                + db.value("pos_core", "SELECT count(*) FROM pos_core_orderrefund WHERE status = 'pending'"))
        if busy == 0:
            break
        time.sleep(1)
    return time.monotonic() - started


def check(deployment: Deployment, scenario: str, histories: list[History]) -> list[Verdict]:
    """The invariants after `scenario`: its keys' histories against every module; its own products' stock;
    its sagas; and the whole (outbox, reservations, ledger, reconcile)."""
    db = deployment.databases
    verdicts: list[Verdict] = []

    def verdict(name: str, ok: bool, detail: str) -> None:
        verdicts.append(Verdict(name, bool(ok), detail))

    orders_by_key: dict[str, list[list[str]]] = {}
    for row in db.rows("pos_core", "SELECT idempotency_key, id, grand_total, refunded, payment_id, saga_id "
                                   "FROM pos_core_order"):
        orders_by_key.setdefault(row[0], []).append(row)
    saga_by_key = {row[1]: row for row in db.rows(
        "pos_core", "SELECT id, idempotency_key, status, payment_id, step, reservation_id, reservation_committed "
                    "FROM pos_core_ordersaga")}
    reservations = {row[0]: row[1] for row in db.rows("inventory", "SELECT id, status FROM inventory_reservation")}
    payments = {row[0]: row for row in db.rows(
        "payment", "SELECT id, idempotency_key, status, captured_amount, refunded_amount FROM payment_payment")}
    payment_by_key = {row[1]: row for row in payments.values()}
    refunds_by_key: dict[str, list[list[str]]] = {}
    for row in db.rows("pos_core", "SELECT idempotency_key, order_id, amount, status FROM pos_core_orderrefund"):
        refunds_by_key.setdefault(row[0], []).append(row)

    histories_by_key = {h.key: h for h in histories}

    def describe(key: str) -> str:
        """What each module holds for a key, and what the terminal saw: for a violation's report."""
        saga = saga_by_key.get(key)
        payment = payment_by_key.get(f"saga-{saga[0]}-charge") if saga else None
        h = histories_by_key.get(key)
        seen: dict[str, int] = {}
        for attempt in h.attempts if h else []:
            seen[attempt] = seen.get(attempt, 0) + 1
        return (f"{key}: terminal saw {seen or '?'} ({h.final if h else '?'}); "
                f"pos_core orders {len(orders_by_key.get(key, []))}, "
                f"saga {saga[0] + ' ' + saga[2] if saga else 'none'}"
                + (f" (step {saga[4]}, reservation {saga[5] or '-'} committed {saga[6]}, payment {saga[3] or '-'})"
                   if saga else "")
                + (f"; payment {payment[0]} {payment[2]} captured {payment[3]} refunded {payment[4]}" if payment
                   else "; payment none")
                + (f"; inventory reservation {reservations.get(saga[5], 'none')}" if saga and saga[5] else ""))

    def net_capture(key: str) -> int:
        saga = saga_by_key.get(key)
        payment = payment_by_key.get(f"saga-{saga[0]}-charge") if saga else None
        return int(payment[3]) - int(payment[4]) if payment else 0

    order_keys = [h for h in histories if h.kind == "order"]
    bad_2xx = []
    for h in order_keys:
        if h.final != "2xx":
            continue
        rows = orders_by_key.get(h.key, [])
        if len(rows) != 1:
            bad_2xx.append((h.key, f"{len(rows)} orders"))
            continue
        _, _, grand_total, refunded, *_ = rows[0]
        if net_capture(h.key) != int(grand_total) - int(refunded):
            bad_2xx.append((h.key, f"net capture {net_capture(h.key)} != {grand_total} - {refunded}"))
    verdict("2xx: one order, one net capture", not bad_2xx,
            f"{len(bad_2xx)} wrong {bad_2xx[:3]}" + "".join(f"\n      {describe(k)}" for k, _ in bad_2xx[:5]))

    bad_4xx = [(h.key, len(orders_by_key.get(h.key, [])), net_capture(h.key)) for h in order_keys
               if h.final == "4xx" and (orders_by_key.get(h.key) or net_capture(h.key) != 0)]
    verdict("4xx: net zero", not bad_4xx, f"{len(bad_4xx)} wrong (key, orders, net capture) {bad_4xx[:3]}"
            + "".join(f"\n      {describe(k)}" for k, *_ in bad_4xx[:5]))

    bad_unknown = []
    for h in order_keys:
        if h.final != "unknown":
            continue
        rows = orders_by_key.get(h.key, [])
        expected = int(rows[0][2]) - int(rows[0][3]) if len(rows) == 1 else 0
        if len(rows) > 1 or net_capture(h.key) != expected:
            bad_unknown.append((h.key, len(rows), net_capture(h.key)))
    verdict("unknown: one or none", not bad_unknown, f"{len(bad_unknown)} wrong (key, orders, net capture) "
            f"{bad_unknown[:3]}" + "".join(f"\n      {describe(k)}" for k, *_ in bad_unknown[:5]))

    # A refund payment refused is kept `failed` (the key's answer, the same every time): it refunds nothing.
    refund_keys = [h for h in histories if h.kind == "refund"]

    def refunded_for(key: str) -> int:
        return sum(1 for row in refunds_by_key.get(key, []) if row[3] == "succeeded")

    bad_refunds = [(h.key, h.final, refunded_for(h.key), len(refunds_by_key.get(h.key, []))) for h in refund_keys
                   if (h.final == "2xx" and refunded_for(h.key) != 1)
                   or (h.final == "4xx" and refunded_for(h.key))
                   or len(refunds_by_key.get(h.key, [])) > 1]
    order_refunds = {r[0]: int(r[1]) for r in db.rows(
        "pos_core", "SELECT o.id, o.refunded FROM pos_core_order o WHERE o.refunded > 0")}
    refund_sums = {r[0]: int(r[1]) for r in db.rows(
        "pos_core", "SELECT order_id, sum(amount) FROM pos_core_orderrefund WHERE status = 'succeeded' "
                    "GROUP BY order_id")}
    paid_back = {}
    for rows in orders_by_key.values():
        for _, order_id, _, _, payment_id, _ in rows:
            if payment_id in payments:
                paid_back[order_id] = int(payments[payment_id][4])
    disagree = {o: (order_refunds.get(o, 0), refund_sums.get(o, 0), paid_back.get(o, 0))
                for o in set(order_refunds) | set(refund_sums) | {o for o, v in paid_back.items() if v}
                if not order_refunds.get(o, 0) == refund_sums.get(o, 0) == paid_back.get(o, 0)}
    verdict("refunds: once per key, order == payment", not bad_refunds and not disagree,
            f"{len(bad_refunds)} wrong keys (key, answer, succeeded, rows) {bad_refunds[:3]}; {len(disagree)} "
            f"orders disagree (order, refunds, payment) {list(disagree.items())[:3]}")

    levels = {r[0]: (int(r[1]), int(r[2])) for r in db.rows(
        "inventory", "SELECT product_id, on_hand, reserved FROM inventory_stockitem WHERE variant = ''")}
    sold = {r[0]: int(r[1]) for r in db.rows("pos_core", "SELECT product_id, sum(quantity) FROM pos_core_orderitem "
                                                         "GROUP BY product_id")}
    restocked = {r[0]: int(r[1]) for r in db.rows(
        "pos_core", "SELECT product_id, sum(refunded_quantity) FROM pos_core_orderitem GROUP BY product_id")}
    unconserved = {pid: (initial - levels.get(pid, (initial, 0))[0], sold.get(pid, 0), restocked.get(pid, 0))
                   for pid, initial in deployment.stock.items() if pid.startswith(f"{scenario}-")
                   if initial - levels.get(pid, (initial, 0))[0] != sold.get(pid, 0) - restocked.get(pid, 0)}
    negative = db.value("inventory", "SELECT count(*) FROM inventory_stockitem WHERE on_hand < 0 OR reserved < 0 "
                                     "OR reserved > on_hand") + db.value(
        "inventory", "SELECT count(*) FROM inventory_movement WHERE on_hand_after < 0 OR reserved_after < 0")
    ordered_sagas = {row[0] for row in db.rows("pos_core", "SELECT saga_id FROM pos_core_order")}
    key_of_saga = {row[0]: key for key, row in saga_by_key.items()}
    orphans = [(reservation_id, saga_key[len("saga-"):]) for reservation_id, saga_key in db.rows(
        "inventory", "SELECT id, key FROM inventory_reservation WHERE status = 'committed'")
        if saga_key.startswith("saga-") and saga_key[len("saga-"):] not in ordered_sagas
        and key_of_saga.get(saga_key[len("saga-"):], "").startswith(f"f-{scenario}-")]
    verdict("stock conserved, never negative", not unconserved and negative == 0 and not orphans,
            f"(taken, sold, returned) differ: {unconserved}; {negative} rows below zero"
            + "".join(f"\n      reservation {r} committed (stock sold) for saga {s} with no order: "
                      f"{describe(key_of_saga[s]) if s in key_of_saga else 'saga not found'}" for r, s in orphans[:5]))

    overdue = db.value("inventory", "SELECT count(*) FROM inventory_reservation WHERE status = 'active' "
                                    "AND expires_at < now() - interval '5 seconds'")
    active = db.value("inventory", "SELECT count(*) FROM inventory_reservation WHERE status = 'active'")
    verdict("no reservation outlives its TTL", overdue == 0, f"{overdue} past their TTL, {active} active")

    pending = {m: db.value(m, "SELECT count(*) FROM pos_eventdelivery WHERE status = 'pending'") for m in db.names}
    dead = {m: db.value(m, "SELECT count(*) FROM pos_eventdelivery WHERE status = 'dead'") for m in db.names}
    verdict("outbox drained", not any(pending.values()) and not any(dead.values()),
            f"pending {sum(pending.values())}, dead {sum(dead.values())}")

    unfinished: dict[str, int] = {}
    for key, row in saga_by_key.items():
        if key.startswith(f"f-{scenario}-") and row[2] not in ("completed", "compensated"):
            unfinished[row[2]] = unfinished.get(row[2], 0) + 1
    stray = [p for p in payments.values() if p[2] == "pending"]
    verdict("no saga unfinished", not unfinished and not stray,
            f"sagas {unfinished or 'all finished'}; {len(stray)} pending payments")

    ledger = manage(deployment.env, "inventory_check_ledger", check=False)
    checks = [f"ledger exit {ledger.returncode}"]
    reconcile = manage(deployment.env, "reconcile", check=False, timeout=300)
    ok = ledger.returncode == 0 and reconcile.returncode == 0
    checks.append(f"reconcile exit {reconcile.returncode}")
    if reconcile.returncode:
        checks.append(" | ".join(reconcile.stdout.strip().splitlines()[-4:]))
    verdict("reconcile clean", ok, "; ".join(checks))
    return verdicts


# --- the scenarios ------------------------------------------------------------------------------------------

@dataclass
class Scenario:
    name: str
    title: str
    run: Callable[[Deployment, Terminals, dict], list[History]]
    terminals: int = 4
    orders: int = 10
    params: dict = field(default_factory=dict)


def menu(scenario: str) -> Callable[[int, int], dict]:
    """Orders of the scenario's own products (so each scenario's stock is checked on its own), paid in turn
    by card, cash, and the two wallets."""

    def order(index: int, n: int) -> dict:
        method = ("card", "cash", "kbzpay", "wavepay")[(index + n) % 4]
        payment = {"method": "cash", "tendered": 10000} if method == "cash" else {"method": method}
        return {"items": [{"product_id": f"{scenario}-noodle", "quantity": 1},
                          {"product_id": f"{scenario}-tea", "quantity": 1 + n % 2}], "payment": payment}

    return order


def load_with(fault: Callable[[threading.Event], None] | None, deployment: Deployment, terminals: Terminals,
              scenario: Scenario, *, bodies=None, start_together: bool = False,
              load_until_fault_ends: bool = False) -> list[History]:
    """Run the terminals while `fault(stop)` runs in a thread: a repeating fault loops until `stop` is set
    (the load is over); a fault with a duration (`load_until_fault_ends`) keeps the terminals busy until it
    has ended."""
    stop, ended = threading.Event(), threading.Event()

    def inject() -> None:
        try:
            fault(stop)
        finally:
            ended.set()

    thread = threading.Thread(target=inject, daemon=True) if fault else None
    if thread is not None:
        thread.start()
    try:
        return terminals.run(scenario.name, bodies or menu(scenario.name), orders_per_terminal=scenario.orders,
                             terminals=scenario.terminals, start_together=start_together,
                             until=ended if thread is not None and load_until_fault_ends else None,
                             pause=scenario.params.get("pause", 0.0))
    finally:
        stop.set()
        if thread is not None:
            thread.join(180)


def scenario_worker_kill(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    def fault(stop: threading.Event) -> None:
        while not stop.wait(3):
            name = random.choice(["worker-w1", "worker-w2"])
            deployment.processes.kill(name)  # SIGKILL the worker and its pool mid-task
            time.sleep(1)
            deployment.processes.restart(name)

    return load_with(fault, deployment, terminals, s)


def scenario_redis_down(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    def fault(stop: threading.Event) -> None:
        time.sleep(1)
        deployment.redis.stop()
        time.sleep(s.params.get("seconds", 60))  # the whole outage, whatever the load does meanwhile
        deployment.redis.start()

    histories = load_with(fault, deployment, terminals, s, load_until_fault_ends=True)
    if deployment.redis.popen is None:
        deployment.redis.start()
    return histories


def scenario_pg_kill(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    killed: list[int] = []

    def fault(stop: threading.Event) -> None:
        # Every 2 s for the whole duration, whatever the load does meanwhile: each round terminates every
        # connection the web processes, workers and beat hold on the module databases at that moment.
        until = time.monotonic() + s.params.get("seconds", 60)
        while time.monotonic() < until:
            time.sleep(2)
            killed.append(deployment.databases.terminate_backends())

    histories = load_with(fault, deployment, terminals, s, load_until_fault_ends=True)
    print(f"  {sum(killed)} backends terminated in {len(killed)} rounds ({sum(1 for k in killed if k)} with a "
          f"connection to kill)")
    return histories


def scenario_web_kill(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    def fault(stop: threading.Event) -> None:
        # web1's worker, mid-request, every few seconds; gunicorn's master starts a new one, and meanwhile the
        # "load balancer" (the terminals' round robin) sends the retries to web2 as well.
        while not stop.wait(s.params.get("every", 4)):
            children = deployment.processes.children("web1")
            if children:
                os.kill(random.choice(children), signal.SIGKILL)

    return load_with(fault, deployment, terminals, s)


def scenario_contention(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    units = s.params.get("units", 10)
    deployment.add_stock([(f"{s.name}-scarce", 2500, units)])

    def scarce(index: int, n: int) -> dict:
        return {"items": [{"product_id": f"{s.name}-scarce", "quantity": 1}], "payment": {"method": "card"}}

    histories = load_with(None, deployment, terminals, s, bodies=scarce, start_together=True)
    sold = sum(1 for h in histories if h.kind == "order" and h.final == "2xx")
    if sold > units:
        print(f"  oversold: {sold} orders answered 2xx for {units} units")
    # A saga exists only for an order that passed the pre-check (validation saw stock): the compensated ones
    # lost the race at the reservation itself.
    sagas = dict(deployment.databases.rows(
        "pos_core", f"SELECT status, count(*) FROM pos_core_ordersaga WHERE idempotency_key LIKE 'f-{s.name}-%' "  # noqa: S608 - our name
                    "GROUP BY status"))
    print(f"  {sum(int(n) for n in sagas.values())} orders passed the pre-check, {sagas.get('completed', 0)} "
          f"completed, {sagas.get('compensated', 0)} lost the race at the reservation")
    return histories


def scenario_provider(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    deployment.provider({"card": "timeout", "kbzpay": "lost", "wavepay": "drop"})
    try:
        return load_with(None, deployment, terminals, s)
    finally:
        deployment.provider({})


def scenario_kill_all(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    def fault(stop: threading.Event) -> None:
        time.sleep(s.params.get("after", 4))
        for process in list(deployment.processes.items):
            deployment.processes.kill(process.name)
        time.sleep(2)
        # The documented recovery: start the processes again. Beat resumes the sweeps, saga recovery,
        # pending-payment resolution and reservation expiry; nothing else is needed.
        deployment.start_processes()

    return load_with(fault, deployment, terminals, s, load_until_fault_ends=True)


def scenario_replay(deployment: Deployment, terminals: Terminals, s: Scenario) -> list[History]:
    histories = load_with(None, deployment, terminals, s)
    settle(deployment, time.monotonic() + SETTLE_SECONDS)
    for n in (1, 2):  # every event of the whole run, delivered or not
        out = manage(deployment.env, "events", "replay", "--since", "1d", "--include-delivered", timeout=600)
        done = [line for line in out.stdout.splitlines() if line.startswith("Done:")] or ["(no summary)"]
        waited = settle(deployment, time.monotonic() + REPLAY_SECONDS)
        print(f"  replay {n}: {done[-1]} " + (f"Handled again in {waited:.0f} s." if waited < REPLAY_SECONDS
                                              else f"Not all handled again within {REPLAY_SECONDS} s."))
    return histories


SCENARIOS = {
    "worker-kill": Scenario("worker-kill", "worker SIGKILL mid-task", scenario_worker_kill),
    # Faults with a duration keep their terminals ordering all along, paced (`pause`) so that the run's volume,
    # which the full replay at the end handles again, stays within the suite's 15 minutes.
    "redis-down": Scenario("redis-down", "Redis stopped for a while", scenario_redis_down, orders=8,
                           params={"seconds": 60, "pause": 3.0}),
    "pg-kill-4": Scenario("pg-kill-4", "pg_terminate_backend every 2 s, 4 terminals", scenario_pg_kill,
                          terminals=4, orders=8, params={"seconds": 30, "pause": 1.5}),
    "pg-kill-8": Scenario("pg-kill-8", "pg_terminate_backend every 2 s, 8 terminals", scenario_pg_kill,
                          terminals=8, orders=5, params={"seconds": 30, "pause": 3.0}),
    "pg-kill-16": Scenario("pg-kill-16", "pg_terminate_backend every 2 s, 16 terminals", scenario_pg_kill,
                           terminals=16, orders=3, params={"seconds": 30, "pause": 6.0}),
    "web-kill": Scenario("web-kill", "web worker SIGKILL mid-request", scenario_web_kill),
    "contention": Scenario("contention", "concurrent orders racing for 10 units", scenario_contention,
                           terminals=200, orders=1, params={"units": 10}),
    "provider": Scenario("provider", "provider timing out, losing answers", scenario_provider),
    "kill-all": Scenario("kill-all", "everything SIGKILLed mid-load, restarted", scenario_kill_all, orders=8),
    "replay": Scenario("replay", "full event replay, twice", scenario_replay, orders=5),
}
PROFILES = {
    "full": list(SCENARIOS),
    # CI: a worker and a web worker killed, Redis away briefly, the module databases' connections killed every
    # 2 s, the race for stock.
    "short": ["worker-kill", "web-kill", "redis-down", "pg-kill-4", "contention"],
}
SHORT_OVERRIDES = {"redis-down": {"params": {"seconds": 15, "pause": 0.0}, "orders": 6},
                   "pg-kill-4": {"params": {"pause": 0.5}, "orders": 20},
                   "worker-kill": {"orders": 5}, "web-kill": {"orders": 5}}


# --- running ------------------------------------------------------------------------------------------------

def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--profile", choices=sorted(PROFILES), default=os.environ.get("PROFILE") or "full")
    parser.add_argument("--scenario", action="append", choices=sorted(SCENARIOS),
                        help="run only these scenarios (repeatable)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--timeout", type=float, default=None,
                        help="hard limit for the whole run, seconds (full 1200, short 600: well above the 15 and 5 "
                             "minutes they take); reached, the run stops and exits 2")
    parser.add_argument("--keep-logs", action="store_true")
    return parser.parse_args()


def scenarios_for(args: argparse.Namespace) -> list[Scenario]:
    names = args.scenario or PROFILES[args.profile]
    chosen = []
    for name in names:
        scenario = SCENARIOS[name]
        if args.profile == "short" and name in SHORT_OVERRIDES:
            overrides = SHORT_OVERRIDES[name]
            scenario = Scenario(scenario.name, scenario.title, scenario.run,
                                terminals=overrides.get("terminals", scenario.terminals),
                                orders=overrides.get("orders", scenario.orders),
                                params={**scenario.params, **overrides.get("params", {})})
        chosen.append(scenario)
    return chosen


def main() -> int:
    args = parse_args()
    scenarios = scenarios_for(args)
    timeout = args.timeout or (600 if args.profile == "short" and not args.scenario else 1200)
    work = Path(tempfile.mkdtemp(prefix="faults_"))
    most_terminals = max(s.terminals for s in scenarios)
    # 2 processes x 4 threads: 8 requests at once, enough for orders to race at the reservation.
    deployment = Deployment(work, web_workers=1, web_threads=4)
    t0 = time.monotonic()
    step = lambda text: print(f"[{time.monotonic() - t0:6.1f}s] {text}", flush=True)  # noqa: E731
    watchdog = threading.Timer(timeout, lambda: os.kill(os.getpid(), signal.SIGINT))
    watchdog.daemon = True
    previous_term = signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    rows: list[tuple[Scenario, list[History], list[Verdict], float]] = []
    status = 2
    watchdog.start()
    try:
        step(f"profile {args.profile}: {', '.join(s.name for s in scenarios)}; work dir {work}")
        deployment.up([(f"{s.name}-{item}", price, 100_000) for s in scenarios
                       for item, price in (("noodle", 3000), ("tea", 1000))], terminals=min(most_terminals, 16))
        step(f"deployment up: web on {deployment.ports} (1 worker x 4 threads each), 2 Celery workers, beat, "
             f"redis on {deployment.redis.port}")
        terminals = Terminals(deployment.ports, deployment.tokens, args.seed)
        for scenario in scenarios:
            step(f"scenario {scenario.name}: {scenario.title} ({scenario.terminals} terminals x {scenario.orders}"
                 + "".join(f", {k} {v}" for k, v in scenario.params.items()) + ")")
            started = time.monotonic()
            histories = scenario.run(deployment, terminals, scenario)
            deployment.processes.check_alive()
            waited = settle(deployment, time.monotonic() + SETTLE_SECONDS)
            verdicts = check(deployment, scenario.name, histories)
            rows.append((scenario, histories, verdicts, time.monotonic() - started))
            failed = [v for v in verdicts if not v.ok]
            problems: dict[str, int] = {}
            for h in histories:
                if h.final == "4xx":
                    problems[f"{h.kind} {h.status} {h.problem}"] = problems.get(f"{h.kind} {h.status} {h.problem}", 0) + 1
            if problems:
                print("  4xx answers: " + ", ".join(f"{n} x {what}" for what, n in sorted(problems.items())))
            step(f"  {scenario.name}: {'PASS' if not failed else 'FAIL'} (settled in {waited:.0f} s)")
            for v in failed:
                print(f"    FAIL {v.name}: {v.detail}")
        status = print_table(rows)
    except KeyboardInterrupt:
        print(f"\nstopped: {'hard timeout reached' if time.monotonic() - t0 >= timeout - 1 else 'interrupted'}")
        if rows:
            print_table(rows, complete=False)
    except (ClusterError, subprocess.TimeoutExpired, OSError) as exc:
        print(f"\nthe fault suite could not run: {exc}")
        for process in deployment.processes.items:
            print(f"--- {process.name} (last lines of {process.log})\n{tail(process.log, 10)}")
    finally:
        watchdog.cancel()
        print("cleaning up: stopping processes and redis, dropping faults_* databases ...", flush=True)
        deployment.down()
        signal.signal(signal.SIGTERM, previous_term)
        if status == 0 and not args.keep_logs:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"  logs kept in {work}")
        total = time.monotonic() - t0
        budget = 330 if args.profile == "short" and not args.scenario else 900  # about 5, under 15 minutes
        print(f"total {total:.0f} s" + (f" (over the profile's budget of {budget} s)" if total > budget else ""))
    return status


def print_table(rows, complete: bool = True) -> int:
    names = [v.name for v in rows[0][2]] if rows else []
    short = {name: f"I{i + 1}" for i, name in enumerate(names)}
    print("\ninvariants: " + "; ".join(f"{code} = {name}" for name, code in short.items()))
    header = f"{'scenario':<12} {'secs':>5} {'keys':>5} {'2xx':>5} {'4xx':>5} {'unkn':>5} " + " ".join(
        f"{code:>4}" for code in short.values())
    print(header)
    print("-" * len(header))
    violations = 0
    for scenario, histories, verdicts, seconds in rows:
        counts = {final: sum(1 for h in histories if h.final == final) for final in ("2xx", "4xx", "unknown")}
        marks = " ".join(f"{'ok' if v.ok else 'FAIL':>4}" for v in verdicts)
        violations += sum(1 for v in verdicts if not v.ok)
        print(f"{scenario.name:<12} {seconds:>5.0f} {len(histories):>5} {counts['2xx']:>5} {counts['4xx']:>5} "
              f"{counts['unknown']:>5} {marks}")
    print(f"\n{'PASS' if not violations else 'FAIL'}: {violations} violation(s) in {len(rows)} scenario(s)"
          + ("" if complete else " (INCOMPLETE: the run stopped before its last scenario)"))
    return 1 if violations else 0


if __name__ == "__main__":
    sys.exit(main())
