"""Benchmark: a terminal reading a menu of 10, 50 and 150 items (GET /api/v1/menus/{id}) and the list of
menus served now (GET /api/v1/menus, all three menus: 210 items).

Prints p50/p99 latency and the queries per request on each database. The query count must not grow with
the number of items (one batch call to inventory, prefetches in restaurant): the script exits non-zero if
it does. Works in embedded mode (SQLite per module) and service mode (DATABASE_URL_* set): it creates its
own `bench_` databases, fills them, and drops them at the end.

    .venv/bin/python bench/restaurant_menu_bench.py            # BENCH_REQUESTS=200 by default
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

from django.db import connections  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from bench import report  # noqa: E402
from bench.bench_databases import bench_databases  # noqa: E402

REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
SIZES = (10, 50, 150)


def _fill():
    from modules.accounts import api as accounts
    from modules.inventory import api as inventory
    from modules.restaurant import api as restaurant

    tenant = accounts.create_tenant(name="Bench Noodle House", slug="bench")
    imported = inventory.import_products(tenant_id=tenant.id, actor="bench", products=[  # one batch
        {"id": f"dish-{n}", "names": {"en": f"Dish {n}", "my": f"ဟင်း {n}"}, "price": 1500 + 50 * n,
         "variants": [{"key": "small", "names": {"en": "Small", "my": "သေး"}, "price": 1500 + 50 * n},
                      {"key": "large", "names": {"en": "Large", "my": "ကြီး"}, "price": 2500 + 50 * n}]
         if n % 5 == 0 else []}
        for n in range(max(SIZES))])
    product_ids = [imported.ids[f"dish-{n}"] for n in range(max(SIZES))]
    menus = {}
    for size in SIZES:
        chosen = product_ids[:size]
        sections = [restaurant.SectionSpec(names={"en": f"Section {s}", "my": f"အပိုင်း {s}"},
                                           items=tuple(restaurant.ItemSpec(product_id=p) for p in chosen[s::5]))
                    for s in range(5)]
        menus[size] = restaurant.create_menu(tenant_id=tenant.id, name=f"Menu {size}", sections=sections).id
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {accounts.create_terminal(tenant_id=tenant.id, name='Bench').token}")
    return client, menus


def _measure(client: APIClient, path: str) -> tuple[float, float, dict[str, int], int]:
    client.get(path)  # warm up
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in connections}
    for context in contexts.values():
        context.__enter__()
    response = client.get(path)
    for context in contexts.values():
        context.__exit__(None, None, None)
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    menus = body.get("results", [body])
    items = sum(len(s["items"]) for m in menus for s in m["sections"])
    queries = {alias: len(c.captured_queries) for alias, c in contexts.items() if c.captured_queries}
    timings = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        client.get(path)
        timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    p99 = timings[min(len(timings) - 1, int(len(timings) * 0.99))]
    return statistics.median(timings), p99, queries, items


def main() -> int:
    mode = "service (PostgreSQL)" if any(connections[a].vendor == "postgresql" for a in connections) else "embedded"
    with bench_databases():
        client, menus = _fill()
        print(f"restaurant menu read, {mode} mode, {REQUESTS} requests each")
        print(f"{'request':<28}{'items':>6}{'p50 ms':>9}{'p99 ms':>9}  queries per request")
        counts = {}
        for size, menu_id in menus.items():
            p50, p99, queries, items = _measure(client, f"/api/v1/menus/{menu_id}")
            counts[size] = sum(queries.values())
            report.record("restaurant_menu_bench", f"menu of {items} items p50", p50, "ms")
            report.record("restaurant_menu_bench", f"menu of {items} items p99", p99, "ms")
            print(f"{'GET /menus/{id}':<28}{items:>6}{p50:>9.2f}{p99:>9.2f}  {sum(queries.values())} {queries}")
        p50, p99, queries, items = _measure(client, "/api/v1/menus")
        print(f"{'GET /menus (3 menus)':<28}{items:>6}{p50:>9.2f}{p99:>9.2f}  {sum(queries.values())} {queries}")
        report.record("restaurant_menu_bench", f"queries per menu read, {SIZES[-1]} items", counts[SIZES[-1]],
                      target=("==", counts[SIZES[0]]))
        if len(set(counts.values())) != 1:
            print(f"FAIL: queries per request grow with the number of items: {counts}")
            return 1
        print(f"OK: {counts[SIZES[0]]} queries per request for {SIZES[0]} to {SIZES[-1]} items")
        return 0


if __name__ == "__main__":
    sys.exit(main())
