"""Benchmark: purging 1,000,000 delivered outbox rows on PostgreSQL in bounded memory without blocking the relay.

It creates throw-away databases (`bench_<name>` beside the configured ones, see bench_databases.py), fills
inventory's outbox with `--rows` delivered events older than the retention window, each with one delivered
delivery, and pos_core's inbox with as many handled records, then runs `pos.events.purge.purge` while a relay
thread keeps publishing stock changes and claiming and delivering them. It prints:

- the purge's rows deleted, duration, rows/s and batches;
- peak RSS of the process before the fill, before the purge and during it (sampled every 20 ms, and the
  kernel's high-water mark): bounded memory means the purge adds about one batch, not the table (it fails
  above 64 MiB of growth);
- the relay's claim latency (p50/p99/max, ms) before the purge and during it: the purge deletes only old,
  delivered rows in short transactions, so a claim (SKIP LOCKED on pending rows) never waits for it;
- that no pending delivery was lost and every purged row was delivered.

    source <service env> && .venv/bin/python bench/event_purge_bench.py [--rows 1000000] [--batch 5000]

Needs the service-mode PostgreSQL variables (DATABASE_URL*); Redis is not used (the relay delivers
in-process). Without PostgreSQL it says so and measures nothing (exit 0, so `make bench` in embedded mode
goes on). Exits 1 if rows were left behind, recent events were purged or the relay failed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(Path(__file__).resolve().parent)]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=int(os.environ.get("BENCH_PURGE_ROWS", "1000000")),
                        help="delivered events to purge (each with one delivery; as many inbox records)")
    parser.add_argument("--batch", type=int, default=None, help="rows per purge batch (EVENTS_PURGE_BATCH)")
    parser.add_argument("--relay-interval-ms", type=float, default=20, help="pause between relay rounds")
    return parser.parse_args()


def rss_kib() -> tuple[int, int]:
    """(current RSS, high-water mark) of this process in KiB."""
    values = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name] = int(amount)
    return values["VmRSS:"], values["VmHWM:"]


class Sampler(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.02):
            self.peak = max(self.peak, rss_kib()[0])


class Relay(threading.Thread):
    """Publishes a stock change, then claims and delivers what is due, again and again; records each claim's
    latency in the current phase."""

    def __init__(self, tenant_id: uuid.UUID, interval: float) -> None:
        super().__init__(daemon=True)
        self.tenant_id = tenant_id
        self.interval = interval
        self.phase = "before"
        self.latencies: dict[str, list[float]] = {"before": [], "during": [], "after": []}
        self.published = 0
        self.delivered = 0
        self.errors: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        from django.db import connections, transaction

        from pos.contracts.inventory import StockChanged
        from pos.events import publish, relay

        try:
            while not self.stop.is_set():
                self.published += 1
                with transaction.atomic(using="inventory"):
                    publish(StockChanged(product_id="bench-purge", variant=None, level=self.published % 50,
                                         threshold=5, reason="sale", sequence=self.published),
                            tenant_id=self.tenant_id, using="inventory")
                started = time.perf_counter()
                token, rows = relay.claim("inventory", limit=50)
                self.latencies[self.phase].append((time.perf_counter() - started) * 1000)
                report = relay.DeliveryReport()
                for delivery in rows:
                    relay._deliver_claimed("inventory", token, delivery, report)
                self.delivered += report.handled
                self.stop.wait(self.interval)
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            connections.close_all()


def fill(rows: int, tenant_id: uuid.UUID, age: timedelta) -> None:
    """Delivered events with one delivered delivery each in inventory, handled inbox records in pos_core, all
    older than the retention window; generated by the server (generate_series), chunk by chunk."""
    from django.db import connections

    chunk = 200_000
    for done in range(0, rows, chunk):
        n = min(chunk, rows - done)
        with connections["inventory"].cursor() as cursor:
            cursor.execute(
                "WITH e AS (INSERT INTO pos_outboxevent (id, name, version, tenant_id, occurred_at, payload, status, "
                "attempts, next_attempt_at, last_error, created_at, delivered_at) "
                "SELECT gen_random_uuid(), 'inventory.stock_changed', 1, %s, now() - %s, "
                "jsonb_build_object('product_id', 'old-' || g, 'variant', null, 'level', 1, 'threshold', 0, "
                "'reason', 'sale', 'sequence', g), 'delivered', 1, now() - %s, '', now() - %s, now() - %s "
                "FROM generate_series(1, %s) g RETURNING id) "
                "INSERT INTO pos_eventdelivery (id, event_id, event_name, tenant_id, handler_name, consumer_alias, "
                "status, attempts, next_attempt_at, last_error, created_at, updated_at, delivered_at, "
                "first_delivered_at, attempts_at_replay) "
                "SELECT gen_random_uuid(), e.id, 'inventory.stock_changed', %s, 'pos_core.refresh_stock_cache', "
                "'pos_core', 'delivered', 1, now() - %s, '', now() - %s, now() - %s, now() - %s, now() - %s, 0 "
                "FROM e",
                [tenant_id, age, age, age, age, n, tenant_id, age, age, age, age, age])
        with connections["pos_core"].cursor() as cursor:
            cursor.execute(
                "INSERT INTO pos_inboxrecord (id, handler_name, event_id, event_name, tenant_id, handled_at) "
                "SELECT gen_random_uuid(), 'pos_core.refresh_stock_cache', gen_random_uuid(), "
                "'inventory.stock_changed', %s, now() - %s FROM generate_series(1, %s)", [tenant_id, age, n])
        print(f"  filled {done + n:,} / {rows:,}", flush=True)
    for alias in ("inventory", "pos_core"):
        with connections[alias].cursor() as cursor:
            cursor.execute("ANALYZE pos_outboxevent; ANALYZE pos_eventdelivery; ANALYZE pos_inboxrecord")


def ms(values: list[float]) -> str:
    if not values:
        return "no claims"
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (f"{len(values)} claims, p50 {statistics.median(values):.1f} ms, p99 {p99:.1f} ms, "
            f"max {ordered[-1]:.1f} ms")


def main() -> int:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["EVENTS_IN_PROCESS"] = "false"
    os.environ["CELERY_BROKER_URL"] = "memory://"  # the relay thread delivers; no worker, no Redis
    os.environ["CELERY_TASK_ALWAYS_EAGER"] = "false"
    os.environ["DJANGO_DEBUG"] = "false"  # as in production: DEBUG keeps a log of the last 9000 queries
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings
    from django.db import connections

    if any(connections[alias].vendor != "postgresql" for alias in ("inventory", "pos_core")):
        print("event_purge_bench: nothing measured; it needs PostgreSQL (set the service-mode DATABASE_URL* "
              "variables).")
        return 0
    from bench_databases import bench_databases

    from pos.events import purge as retention
    from pos.models import EventDelivery, InboxRecord, OutboxEvent

    tenant_id = uuid.uuid4()
    batch = args.batch or settings.EVENTS_PURGE_BATCH
    rss_start = rss_kib()[0]
    with bench_databases():
        print(f"== event purge: {args.rows:,} delivered events + {args.rows:,} deliveries (inventory), "
              f"{args.rows:,} inbox records (pos_core); batch {batch}; retention {retention.retention()}")
        started = time.perf_counter()
        fill(args.rows, tenant_id, retention.retention() + retention.retry_horizon() + timedelta(days=1))
        print(f"  fill took {time.perf_counter() - started:.1f} s")
        connections.close_all()

        sampler = Sampler()
        sampler.start()
        relay_thread = Relay(tenant_id, args.relay_interval_ms / 1000)
        relay_thread.start()
        time.sleep(5)
        rss_before = rss_kib()[0]
        sampler.peak = rss_before
        relay_thread.phase = "during"
        progress_marks = {"last": time.monotonic()}

        def progress(alias: str, table: str, deleted: int) -> None:
            if time.monotonic() - progress_marks["last"] >= 5:
                progress_marks["last"] = time.monotonic()
                print(f"  purging {alias} {table}: {deleted:,} deleted", flush=True)

        started = time.perf_counter()
        report = retention.purge(["inventory", "pos_core"], batch=batch, progress=progress)
        seconds = time.perf_counter() - started
        relay_thread.phase = "after"
        peak_during = sampler.peak
        time.sleep(2)
        relay_thread.stop.set()
        relay_thread.join(30)
        sampler.stop.set()
        connections.close_all()

        left = OutboxEvent.objects.using("inventory").filter(payload__product_id__startswith="old-").count()
        pending = EventDelivery.objects.using("inventory").filter(status=EventDelivery.Status.PENDING).count()
        kept = OutboxEvent.objects.using("inventory").filter(payload__product_id="bench-purge").count()
        inbox_left = InboxRecord.objects.using("pos_core").filter(
            handled_at__lt=time_ago(retention.retention())).count()
        connections.close_all()

    total = report.total
    print(f"  purged: {report.events.get('inventory', 0):,} events, {report.deliveries.get('inventory', 0):,} "
          f"deliveries, {report.inbox.get('pos_core', 0):,} inbox records in {report.batches} batches")
    print(f"  purge time: {seconds:.1f} s ({total / seconds:,.0f} rows/s)")
    print(f"  RSS: at start {rss_start / 1024:.1f} MiB, before the purge {rss_before / 1024:.1f} MiB, peak during "
          f"the purge {peak_during / 1024:.1f} MiB (+{(peak_during - rss_before) / 1024:.1f} MiB); "
          f"process high-water mark {rss_kib()[1] / 1024:.1f} MiB")
    print(f"  relay claim latency before the purge: {ms(relay_thread.latencies['before'])}")
    print(f"  relay claim latency during the purge: {ms(relay_thread.latencies['during'])}")
    print(f"  relay claim latency after the purge:  {ms(relay_thread.latencies['after'])}")
    print(f"  relay: {relay_thread.published} events published, {relay_thread.delivered} deliveries delivered, "
          f"{pending} pending at the end, {kept} recent events kept")
    failures = []
    if peak_during - rss_before > 64 * 1024:
        failures.append(f"memory grew by {(peak_during - rss_before) / 1024:.0f} MiB during the purge")
    if left or inbox_left:
        failures.append(f"{left} old events and {inbox_left} old inbox records left")
    if relay_thread.errors:
        failures.append("relay errors: " + "; ".join(relay_thread.errors[:3]))
    if kept != relay_thread.published:
        failures.append(f"recent events purged: {relay_thread.published - kept}")
    print("RESULT: " + ("FAIL " + "; ".join(failures) if failures else "PASS"))
    import report as figures

    figures.record("event_purge_bench", f"purge of {total:,} rows", total / seconds, "rows/s")
    figures.record("event_purge_bench", "purge RSS growth", (peak_during - rss_before) / 1024, "MiB",
                   target=("<=", 64))
    during = sorted(relay_thread.latencies["during"])
    if during:
        figures.record("event_purge_bench", "relay claim p99 during the purge",
                       during[min(len(during) - 1, int(len(during) * 0.99))], "ms")
    return 1 if failures else 0


def time_ago(delta: timedelta):
    from django.utils import timezone

    return timezone.now() - delta


if __name__ == "__main__":
    raise SystemExit(main())
