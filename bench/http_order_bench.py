"""Order placement through HTTP: `POST /api/v1/orders` served by gunicorn, K terminals at once, against the
in-process saga in the same run, so the web layer's cost (terminal auth, the Idempotency-Key record, the
serializers, the WSGI round trip) is visible.

Runs on throw-away `bench_` databases beside the configured ones (as `order_bench.py`; service mode: PostgreSQL
per module and REDIS_URL), dropped at the end. It creates a restaurant with stock and K terminals, then:
- what one placement costs each module database, in process (the saga) and through the API (Django's test
  client: the saga plus the web layer's statements);
- saga: K threads calling pos_core's saga directly;
- HTTP: gunicorn (`--workers`, `--threads`, gthread, connections kept `DB_CONN_MAX_AGE`) on a free port, K client
  threads each with its own terminal token and a kept-alive connection, every order a new Idempotency-Key.
Prints orders/s, p50/p99 and the ratio HTTP / in-process.

    .venv/bin/python bench/http_order_bench.py [--terminals 8] [--orders 25] [--workers 2] [--threads 4]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402
from django.test import Client  # noqa: E402

from bench import report as figures  # noqa: E402
from bench.bench_databases import bench_databases  # noqa: E402
from bench.cluster import MODULES, PYTHON, Processes, free_ports, wait_ready  # noqa: E402
from bench.order_bench import BODY, percentile, quiet_logs, report, run, setup_tenant  # noqa: E402
from bench.query_budget import describe, measure, modules_total  # noqa: E402
from modules.accounts import api as accounts  # noqa: E402
from modules.pos_core import saga  # noqa: E402
from pos.modules import module_aliases  # noqa: E402

BENCH = "http_order_bench"
ALIAS_OF_MODULE = {"accounts": "default", "inventory": "inventory", "pos_core": "pos_core", "payment": "payment",
                   "restaurant": "restaurant"}


def database_urls() -> dict[str, str]:
    """The DATABASE_URL* variables naming the bench databases (as switched to by bench_databases)."""
    urls = {}
    for module, variable in MODULES.items():
        config = connections[ALIAS_OF_MODULE[module]].settings_dict
        if config["ENGINE"].endswith("sqlite3"):
            urls[variable] = f"sqlite:///{config['NAME']}"
        else:
            password = f":{config['PASSWORD']}" if config.get("PASSWORD") else ""
            urls[variable] = (f"postgres://{config['USER']}{password}@{config['HOST'] or '127.0.0.1'}:"
                              f"{config['PORT'] or 5432}/{config['NAME']}")
    return urls


class Terminal:
    """One terminal: its token and a kept-alive connection to the web process."""

    def __init__(self, port: int, token: str) -> None:
        self.port, self.token = port, token
        self.conn: http.client.HTTPConnection | None = None

    def place(self, key: str) -> None:
        body = json.dumps(BODY).encode()
        headers = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                   "Accept": "application/json", "Idempotency-Key": key}
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            try:
                self.conn.request("POST", "/api/v1/orders", body=body, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                break
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None  # the server closed a kept-alive connection: once more on a new one
                if attempt:
                    raise
        if response.status != 201:
            raise RuntimeError(f"{response.status}: {raw[:200]!r}")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def run_http(terminals: list[Terminal], per_terminal: int) -> tuple[float, list[float], int]:
    return run(len(terminals), per_terminal, [terminal.place for terminal in terminals])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--terminals", "-k", type=int, default=8)
    parser.add_argument("--orders", "-n", type=int, default=25, help="orders per terminal")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker")
    args = parser.parse_args()
    quiet_logs()
    with bench_databases():
        _main(args)


def _main(args) -> None:
    mode = "service (PostgreSQL per module, Redis)" if settings.SERVICE_MODE else "embedded (SQLite per module)"
    print(f"HTTP order placement benchmark: {mode}; gunicorn {args.workers} worker(s) x {args.threads} thread(s), "
          f"{args.terminals} terminals x {args.orders} orders")
    total = 3 * args.terminals * args.orders + 4 * args.terminals + 2 * args.orders + 20  # orders of every run
    tenant = setup_tenant(total)
    tokens = [accounts.create_terminal(tenant_id=tenant.id, name=f"Bench terminal {i + 1}").token
              for i in range(args.terminals)]

    aliases = list(module_aliases())
    saga.place_order(tenant_id=tenant.id, idempotency_key="bench-warm-up", data=BODY)
    with measure(aliases) as in_process:
        saga.place_order(tenant_id=tenant.id, idempotency_key="bench-probe", data=BODY)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {tokens[0]}")
    client.post("/api/v1/orders", BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="http-warm-up")
    with measure(aliases) as through_api:
        answer = client.post("/api/v1/orders", BODY, content_type="application/json", HTTP_IDEMPOTENCY_KEY="http-probe")
    if answer.status_code != 201:
        raise SystemExit(f"the API refused the probe order: {answer.status_code} {answer.content[:300]!r}")
    print(f"one placement, saga in process:  {describe(in_process)}")
    print(f"one placement, POST /api/v1/orders: {describe(through_api)}")
    web, saga_only = modules_total(through_api), modules_total(in_process)  # the simulated provider's apart
    figures.record(BENCH, "statements per placement (HTTP)", web.statements)
    figures.record(BENCH, "commits per placement (HTTP)", web.commits)
    added = {alias: through_api[alias].statements - in_process[alias].statements for alias in aliases}
    print("the web layer adds: " + ", ".join(f"{alias} {n:+d}" for alias, n in added.items() if n)
          + f" statements; {web.commits - saga_only.commits:+d} commits")

    elapsed, one_saga, errors = run(1, args.orders, lambda key: saga.place_order(
        tenant_id=tenant.id, idempotency_key=key, data=BODY))
    saga_one = report("saga in process, 1 terminal", elapsed, one_saga, errors, bench=BENCH)
    elapsed, latencies, errors = run(args.terminals, args.orders, lambda key: saga.place_order(
        tenant_id=tenant.id, idempotency_key=key, data=BODY))
    saga_tp = report(f"saga in process, {args.terminals} terminals", elapsed, latencies, errors, bench=BENCH)
    connections.close_all()

    port = free_ports(1)[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DATABASE_URL")}
    env.update(database_urls())
    env.update({"DJANGO_DEBUG": "false", "PYTHONUNBUFFERED": "1"})
    log_dir = Path(settings.POS_VAR_DIR if hasattr(settings, "POS_VAR_DIR") else "var")
    log_dir.mkdir(parents=True, exist_ok=True)
    processes = Processes(env, log_dir)
    processes.start("bench-http-web", [
        PYTHON, "-m", "gunicorn", "config.wsgi:application", "--workers", str(args.workers), "--threads",
        str(args.threads), "--worker-class", "gthread", "--bind", f"127.0.0.1:{port}", "--no-control-socket",
        "--timeout", "60", "--keep-alive", "30", "--log-level", "warning"])
    try:
        wait_ready([port], processes, time.monotonic() + 60)
        terminals = [Terminal(port, token) for token in tokens]
        run_http(terminals, 2)  # every worker thread opens its connections and loads its code first
        elapsed, latencies, errors = run_http(terminals, args.orders)
        http_tp = report(f"HTTP (gunicorn), {args.terminals} terminals", elapsed, latencies, errors, bench=BENCH)
        one = terminals[:1]
        elapsed, one_latencies, one_errors = run_http(one, args.orders)
        http_one = report("HTTP (gunicorn), 1 terminal", elapsed, one_latencies, one_errors, bench=BENCH)
        for terminal in terminals:
            terminal.close()
    finally:
        processes.stop_all()
    figures.record(BENCH, f"HTTP / in-process saga throughput, {args.terminals} terminals",
                   figures.ratio(http_tp, saga_tp), "x")
    figures.record(BENCH, "HTTP / in-process saga throughput, 1 terminal", figures.ratio(http_one, saga_one), "x")
    added = percentile(one_latencies, 50) - percentile(one_saga, 50)
    figures.record(BENCH, "web layer's p50 cost, 1 terminal", added, "ms")
    # With K terminals gunicorn's worker processes run in parallel while the in-process threads share one
    # interpreter, so the one-terminal figures are the web layer's own cost.
    print(f"the web layer: HTTP runs at {http_one / saga_one:.2f}x the in-process saga's throughput with one terminal "
          f"(p50 {added:+.1f} ms), {http_tp / saga_tp:.2f}x with {args.terminals} (gunicorn's {args.workers} worker "
          "processes against the threads of one process)")


if __name__ == "__main__":
    main()
