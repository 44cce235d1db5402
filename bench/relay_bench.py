"""One stock change and its delivery, in this process: what the producer's side (`inventory.adjust_stock`, its
ledger, event and broker task) and the relay's side (claim, the handler's transaction, the outcome with the
event's summary) each cost, in CPU time and wall time, and in statements on each database.

No worker runs: the events are committed (their tasks go to a queue of the bench's own, deleted at the end) and
then delivered here, one `relay.deliver_event` each, through pos_core's real stock cache handler. Runs on
throw-away `bench_` databases beside the configured ones (service mode: DATABASE_URL_* on PostgreSQL and
REDIS_URL; embedded mode works too, on SQLite), dropped at the end. `bench/event_lag_bench.py` measures the same
path end to end with a real worker.

    .venv/bin/python bench/relay_bench.py [--changes 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query

import django

django.setup()

from django.conf import settings  # noqa: E402

from bench import report as figures  # noqa: E402
from bench.bench_databases import bench_databases  # noqa: E402
from bench.order_bench import quiet_logs  # noqa: E402
from bench.query_budget import describe, measure  # noqa: E402
from modules.accounts import api as accounts  # noqa: E402
from modules.inventory import api as inventory  # noqa: E402
from pos.events import relay  # noqa: E402
from pos.models import OutboxEvent  # noqa: E402
from pos.modules import module_aliases  # noqa: E402
from pos.tenancy import all_tenants  # noqa: E402

BENCH = "relay_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--changes", type=int, default=300)
    args = parser.parse_args()
    quiet_logs()
    if settings.EVENTS_IN_PROCESS:
        # Embedded mode delivers at commit, inside adjust_stock: the two sides cannot be told apart.
        print("relay bench: events are delivered in-process at commit here (embedded mode); set the service-mode "
              "variables to measure the relay on its own")
        return
    with bench_databases():
        run(args.changes)


def adjust(tenant_id: uuid.UUID) -> None:
    inventory.adjust_stock(tenant_id=tenant_id, product_id="bench-tea", variant=None, kind="receive", quantity=1,
                           reason="bench", actor="bench")


def run(changes: int) -> None:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    tenant = accounts.create_tenant(name=f"Bench {slug}", slug=slug)
    inventory.create_product(tenant_id=tenant.id, names={"en": "Bench tea", "my": "လက်ဖက်ရည်"}, price=1500,
                             product_id="bench-tea", threshold=1)
    print(f"relay bench: {changes} stock changes, then their deliveries, one at a time in this process")
    adjust(tenant.id)  # warm-up
    with measure(list(module_aliases())) as costs:
        adjust(tenant.id)
    print(f"one stock change: {describe(costs)}")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(changes):
        adjust(tenant.id)
    cpu, wall = (time.process_time() - cpu) / changes * 1000, (time.perf_counter() - wall) / changes * 1000
    print(f"stock change (adjust_stock, its event and broker task): CPU {cpu:.2f} ms, wall {wall:.2f} ms each")
    figures.record(BENCH, "stock change, CPU", cpu, "ms")
    figures.record(BENCH, "stock change, wall", wall, "ms")

    with all_tenants():
        pending = list(OutboxEvent.objects.using("inventory").filter(
            name="inventory.stock_changed", status=OutboxEvent.Status.PENDING).order_by("occurred_at")
            .values_list("id", flat=True))
    first, probe, *timed = pending
    relay.deliver_event("inventory", first)  # warm-up
    with measure(list(module_aliases())) as costs:
        relay.deliver_event("inventory", probe)
    print(f"one delivery: {describe(costs)}")
    cpu, wall = time.process_time(), time.perf_counter()
    delivered = 0
    for event_id in timed:
        delivered += relay.deliver_event("inventory", event_id).delivered
    cpu, wall = (time.process_time() - cpu) / len(timed) * 1000, (time.perf_counter() - wall) / len(timed) * 1000
    if delivered != len(timed):
        raise SystemExit(f"only {delivered} of {len(timed)} deliveries were made")
    print(f"delivery (claim, handler with its inbox row, outcome with the event's summary): CPU {cpu:.2f} ms, "
          f"wall {wall:.2f} ms each ({delivered} deliveries)")
    figures.record(BENCH, "delivery, CPU", cpu, "ms")
    figures.record(BENCH, "delivery, wall", wall, "ms")
    figures.record(BENCH, "delivery, statements", sum(c.statements for c in costs.values()))
    figures.record(BENCH, "delivery, round trips", sum(c.round_trips for c in costs.values()))


if __name__ == "__main__":
    main()
