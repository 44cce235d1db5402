"""Benchmark: lag from a committed stock change to the updated POS stock cache entry, p50/p95/p99, under a
steady stream of changes, in embedded mode and in service mode.

Each change is `inventory.adjust_stock(...)` (or, with `--through kernel`, a publish of a bench event) in
inventory's transaction. The clock starts in the first on-commit callback of that transaction (before the
relay's), and stops when the cache (Redis in service mode, read by a polling thread) holds that change's
sequence or a later one. Service mode runs a real Celery worker on a real Redis broker.

    .venv/bin/python bench/event_lag_bench.py                     # both modes (service when its env is set)
    .venv/bin/python bench/event_lag_bench.py --mode service --changes 1000 --rate 200
    BENCH_CHANGES=300 BENCH_RATE=100 .venv/bin/python bench/event_lag_bench.py

It creates its own databases (`bench_lag_<name>`: SQLite files in a temporary directory, or PostgreSQL
databases beside the configured ones), and drops them at the end. Service mode needs DATABASE_URL* (PostgreSQL)
and REDIS_URL in the environment. The seed accepts 50-500 ms; the target is p99 < 25 ms in service mode.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = Path(__file__).resolve().parent


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=["both", "embedded", "service"], default="both")
    parser.add_argument("--changes", type=int, default=int(os.environ.get("BENCH_CHANGES", "300")))
    parser.add_argument("--rate", type=float, default=float(os.environ.get("BENCH_RATE", "100")),
                        help="Stock changes per second (steady stream).")
    parser.add_argument("--through", choices=["auto", "pos_core", "kernel"], default="auto",
                        help="pos_core: inventory.adjust_stock -> pos_core's stock cache handler; kernel: a bench "
                             "event and a cache-writing handler. auto: pos_core when its handler exists.")
    parser.add_argument("--concurrency", type=int, default=2, help="Worker processes (service mode).")
    return parser.parse_args()


# --- parent: one child process per mode (settings are read from the environment at start-up) ------------

def service_env_present() -> bool:
    return bool(os.environ.get("REDIS_URL")) and os.environ.get("DATABASE_URL", "").startswith(("postgres", "pgsql"))


def run_child(mode: str, args: argparse.Namespace) -> int:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(BENCH_DIR), str(ROOT), env.get("PYTHONPATH")]))
    env["EVENTS_HANDLER_MODULES"] = "event_lag_handlers"
    env.setdefault("LOG_LEVEL", "WARNING")
    if mode == "embedded":
        for name in list(env):
            if name.startswith("DATABASE_URL") or name in {"REDIS_URL", "CELERY_BROKER_URL"}:
                del env[name]
        env["POS_VAR_DIR"] = tempfile.mkdtemp(prefix="bench_lag_")
        env["CELERY_TASK_ALWAYS_EAGER"] = "true"
    else:
        env["CELERY_TASK_ALWAYS_EAGER"] = "false"
    env["EVENTS_IN_PROCESS"] = "true" if mode == "embedded" else "false"
    command = [sys.executable, __file__, "--child", mode, "--changes", str(args.changes), "--rate", str(args.rate),
               "--through", args.through, "--concurrency", str(args.concurrency)]
    return subprocess.call(command, env=env, cwd=ROOT)


def main() -> int:
    if "--child" in sys.argv:
        index = sys.argv.index("--child")
        mode = sys.argv[index + 1]
        del sys.argv[index:index + 2]
        return child(mode, parse_args())
    args = parse_args()
    modes = ["embedded", "service"] if args.mode == "both" else [args.mode]
    status = 0
    for mode in modes:
        if mode == "service" and not service_env_present():
            print("== service mode: skipped (set DATABASE_URL, DATABASE_URL_<MODULE> to PostgreSQL and REDIS_URL)")
            if args.mode == "service":
                status = 2
            continue
        status = run_child(mode, args) or status
    return status


# --- child: one mode ---------------------------------------------------------------------------------------

def child(mode: str, args: argparse.Namespace) -> int:
    sys.path[:0] = [str(ROOT), str(BENCH_DIR)]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections
    from django.test.utils import setup_databases, teardown_databases

    for alias in connections:
        config = connections[alias].settings_dict
        if config["ENGINE"].endswith("sqlite3"):
            config.setdefault("TEST", {})["NAME"] = str(Path(settings.VAR_DIR) / f"bench_lag_{alias}.sqlite3")
        else:
            config.setdefault("TEST", {})["NAME"] = f"bench_lag_{config['NAME']}"
    from broker import private_queue

    print(f"== {mode} mode: preparing databases ...", flush=True)
    # A queue of this run's own, read by its worker only and deleted at the end: a worker that starts on a shared
    # queue first drains whatever tasks others left there (a first run once waited 2.8 s behind them).
    with private_queue("event-lag") as queue:
        old_config = setup_databases(verbosity=0, interactive=False, aliases=set(connections))
        worker = None
        try:
            if mode == "service":  # cache keys are unique per run: the shared cache is left alone
                worker = start_worker(args.concurrency, queue)
            return measure(mode, args)
        finally:
            if worker is not None:
                stop_worker(worker)
            for alias in connections:
                connections[alias].close()
            teardown_databases(old_config, verbosity=0)


def worker_env() -> dict:
    from urllib.parse import quote

    from django.conf import settings
    from django.db import connections

    env = dict(os.environ)
    for alias in settings.DATABASES:
        db = connections[alias].settings_dict
        auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
        env["DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"] = (
            f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}")
    return env


def start_worker(concurrency: int, queue: str) -> subprocess.Popen:
    from config.celery import app

    name = f"bench-lag-{uuid.uuid4().hex[:8]}@localhost"
    log = open(Path(tempfile.gettempdir()) / f"{name.split('@')[0]}.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "prefork", "--concurrency",
         str(concurrency), "-l", os.environ.get("BENCH_WORKER_LOG_LEVEL", "WARNING"), "-n", name, "-Q", queue,
         "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=worker_env(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"The Celery worker exited; see {log.name}")
        try:
            if app.control.ping(destination=[name], timeout=0.5):
                print(f"   worker {name} ready (prefork x{concurrency}, queue {queue}), log {log.name}", flush=True)
                return process
        except Exception:  # noqa: S110 - broker not ready yet
            pass
    stop_worker(process)
    raise SystemExit(f"The Celery worker did not answer ping; see {log.name}")


def stop_worker(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


def measure(mode: str, args: argparse.Namespace) -> int:
    from django.core.cache import cache
    from django.db import transaction

    from pos.events import publish, subscriptions_for

    through = args.through
    if through == "auto":
        through = "pos_core" if subscriptions_for("inventory.stock_changed") else "kernel"

    from modules.accounts import api as accounts

    tenant = accounts.create_tenant(name="Bench tea shop", slug=f"bench-{uuid.uuid4().hex[:10]}")
    product_id = f"bench-{uuid.uuid4().hex[:8]}"
    if through == "pos_core":
        from modules.inventory import api as inventory
        from modules.pos_core import stock_cache

        inventory.create_product(tenant_id=tenant.id, names={"en": "Bench tea", "my": "လက်ဖက်ရည်"}, price=1500,
                                 product_id=product_id, threshold=5)
        key = stock_cache.key(tenant.id, product_id, None)

        def change(n: int) -> int:
            return inventory.adjust_stock(tenant_id=tenant.id, product_id=product_id, variant=None, kind="receive",
                                          quantity=1, reason="bench", actor="bench").sequence
        path = "inventory.adjust_stock -> inventory.stock_changed -> pos_core.refresh_stock_cache -> cache"
    else:
        import event_lag_handlers as bench_handlers

        key = bench_handlers.cache_key(tenant.id, product_id)

        def change(n: int) -> int:
            publish(bench_handlers.BenchStockChanged(product_id=product_id, level=n, sequence=n),
                    tenant_id=tenant.id, using="inventory")
            return n
        path = "publish(bench.stock_changed) in inventory -> bench.cache_stock_level (pos_core) -> cache"

    commit_at: dict[int, float] = {}
    seen_at: dict[int, float] = {}
    done = threading.Event()

    def cached_sequence() -> int:
        value = cache.get(key)
        return value["sequence"] if value else -1

    def poll() -> None:  # service mode: the worker writes the cache in another process
        """Wake on each write of the cache key (Redis keyspace notifications), then read it. Polling the key
        every millisecond instead costs a good part of a core on a two-core machine: the measuring would slow
        what it measures. Where notifications cannot be turned on, it polls."""
        last = -1
        watch = keyspace_watch(cache, key)
        try:
            while not done.is_set():
                if watch is not None:
                    watch.get_message(timeout=0.05)  # a write of the key, or a timeout: read it either way
                current = cached_sequence()
                if current > last:
                    now = time.perf_counter()
                    for sequence in range(last + 1, current + 1):
                        seen_at.setdefault(sequence, now)
                    last = current
                if watch is None:
                    time.sleep(0.001)
        finally:
            if watch is not None:
                watch.close()

    def one_change(n: int) -> int:
        stamp: list[float] = []
        with transaction.atomic(using="inventory"):
            # Registered first, so it runs first at commit: the clock starts before the relay's callback.
            transaction.on_commit(lambda: stamp.append(time.perf_counter()), using="inventory")
            sequence = change(n)
        commit_at[sequence] = stamp[0]
        return sequence

    warmup = 20
    restore_notifications = enable_keyspace_notifications(cache) if mode == "service" else None
    poller = threading.Thread(target=poll, daemon=True) if mode == "service" else None
    if poller:
        poller.start()
    print(f"   path: {path}", flush=True)
    print(f"   {warmup} warm-up changes, then {args.changes} at {args.rate:g}/s ...", flush=True)
    sequences, first_sequences = [], []
    interval = 1.0 / args.rate
    started = time.perf_counter()
    for n in range(1, warmup + args.changes + 1):
        target = started + (n - 1) * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        sequence = one_change(n)
        if mode == "embedded":  # delivered in-process at commit: the cache already holds it, or never will
            if cached_sequence() >= sequence:
                seen_at.setdefault(sequence, time.perf_counter())
        if n > warmup:
            sequences.append(sequence)
        else:
            first_sequences.append(sequence)
    elapsed = time.perf_counter() - started
    deadline = time.monotonic() + 30
    while mode == "service" and time.monotonic() < deadline and not all(
            s in seen_at for s in sequences + first_sequences):
        time.sleep(0.01)
    done.set()
    if poller:
        poller.join(2)
    if restore_notifications is not None:
        restore_notifications()

    lags = [(seen_at[s] - commit_at[s]) * 1000 for s in sequences if s in seen_at]
    missing = len(sequences) - len(lags)
    first = [(seen_at[s] - commit_at[s]) * 1000 for s in first_sequences if s in seen_at]
    if first:
        print(f"   the first {len(first)} changes after the worker started (warm-up, not in the figures below): "
              f"p50 {percentile(first, 50):.2f} ms, max {max(first):.2f} ms", flush=True)
    report(mode, lags, missing, elapsed, warmup + args.changes, first)
    return 1 if missing else 0


def enable_keyspace_notifications(cache):
    """Turn on Redis's notifications of writes to keys (`notify-keyspace-events` K$) for the run; returns what
    puts the server's setting back, or None when it cannot be changed (the poller then polls)."""
    client = cache._cache.get_client(None, write=True)
    try:
        before = client.config_get("notify-keyspace-events").get("notify-keyspace-events", "")
        wanted = "".join(sorted(set(before) | {"K", "$"}))
        client.config_set("notify-keyspace-events", wanted)
    except Exception as exc:  # a managed Redis may refuse CONFIG: poll instead
        print(f"   (Redis keyspace notifications unavailable: {exc}; polling the cache every ms)", flush=True)
        return None
    print("   the cache is watched by Redis keyspace notifications (no polling)", flush=True)
    return lambda: client.config_set("notify-keyspace-events", before)


def keyspace_watch(cache, key: str):
    """A subscription to the writes of `key` in the cache's Redis, or None when notifications are off."""
    client = cache._cache.get_client(key, write=False)
    try:
        if "K" not in client.config_get("notify-keyspace-events").get("notify-keyspace-events", ""):
            return None
    except Exception:  # notifications unknown: poll
        return None
    watch = client.pubsub(ignore_subscribe_messages=True)
    watch.psubscribe(f"__keyspace@*__:{cache.make_and_validate_key(key)}")
    watch.get_message(timeout=1)  # the subscription's confirmation
    return watch


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def report(mode: str, lags: list[float], missing: int, elapsed: float, total: int, first: list[float]) -> None:
    if not lags:
        print(f"   {mode}: no change reached the cache ({missing} missing)")
        return
    print(f"   achieved {total / elapsed:.0f} changes/s over {elapsed:.1f}s")
    print(f"   lag commit -> cache ({len(lags)} changes): p50 {percentile(lags, 50):.2f} ms  "
          f"p95 {percentile(lags, 95):.2f} ms  p99 {percentile(lags, 99):.2f} ms  "
          f"max {max(lags):.2f} ms  mean {statistics.fmean(lags):.2f} ms")
    target = 25.0 if mode == "service" else 500.0
    import report as figures

    rate = f"{total / elapsed:.0f}/s"
    figures.record("event_lag_bench", f"{mode}: stock change -> POS cache p50 at {rate}", percentile(lags, 50), "ms")
    figures.record("event_lag_bench", f"{mode}: stock change -> POS cache p99 at {rate}", percentile(lags, 99), "ms",
                   target=("<", target))
    if mode == "service" and first:  # no cold start: the first changes after the worker started are as quick
        figures.record("event_lag_bench", f"{mode}: first {len(first)} changes after the worker started p50",
                       percentile(first, 50), "ms", target=("<", target))
    verdict = "within" if percentile(lags, 99) < target else "OVER"
    print(f"   p99 {verdict} the {'service-mode target of 25 ms' if mode == 'service' else 'seed window (500 ms)'}"
          + (f"; {missing} change(s) never reached the cache" if missing else ""), flush=True)


if __name__ == "__main__":
    sys.exit(main())
