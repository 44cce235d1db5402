"""Benchmark: the catalog list and reservations on PostgreSQL.

1. Listing 500 products with variants through GET /api/v1/catalog/products: p50/p99 latency per page size and
   the queries per request (inventory database and all databases), which must not grow with the page size.
2. Reservation throughput: 20 concurrent clients reserving (and committing) one hot product; then 20 clients
   racing for a scarce stock, proving exactly the available quantity is reserved.

    DATABASE_URL=postgres://... DATABASE_URL_INVENTORY=postgres://... (and the other DATABASE_URL_*) \
        .venv/bin/python bench/inventory_bench.py [--products 500] [--clients 20] [--seconds 5]

It creates its own databases (`<name>_invbench` beside each configured PostgreSQL database), migrates them, and
drops them at the end. It exits with a message when the inventory database is not PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODULE_URLS = ["DATABASE_URL", "DATABASE_URL_INVENTORY", "DATABASE_URL_POS_CORE", "DATABASE_URL_PAYMENT",
               "DATABASE_URL_RESTAURANT"]
SUFFIX = "_invbench"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--products", type=int, default=int(os.environ.get("BENCH_PRODUCTS", "500")))
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_CLIENTS", "20")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "5")))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "60")),
                        help="List requests per page size.")
    return parser.parse_args()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(pct / 100 * (len(ordered) - 1))))
    return ordered[index]


# --- databases of our own --------------------------------------------------------------------------

def bench_urls() -> dict[str, str]:
    import dj_database_url

    urls = {}
    for name in MODULE_URLS:
        url = os.environ.get(name) or (os.environ.get("DATABASE_URL_ACCOUNTS") if name == "DATABASE_URL" else None)
        if not url or dj_database_url.parse(url)["ENGINE"] != "django.db.backends.postgresql":
            if name in ("DATABASE_URL", "DATABASE_URL_INVENTORY"):
                sys.exit(f"inventory_bench: {name} must point at PostgreSQL (got {url!r}). This benchmark measures "
                         "PostgreSQL; set DATABASE_URL and DATABASE_URL_<MODULE> (see .env.example).")
            url = urls["DATABASE_URL"]  # a module without its own URL: share the accounts server
            urls[name] = url.rsplit("/", 1)[0] + "/" + name.removeprefix("DATABASE_URL_").lower()
            continue
        urls[name] = url
    return urls


def admin_sql(url: str, statement: str) -> None:
    import dj_database_url
    import psycopg

    config = dj_database_url.parse(url)
    with psycopg.connect(host=config["HOST"] or None, port=config["PORT"] or None, user=config["USER"] or None,
                         password=config["PASSWORD"] or None, dbname="postgres", autocommit=True) as conn:
        conn.execute(statement)


def create_databases(urls: dict[str, str]) -> dict[str, str]:
    mine = {}
    for name, url in urls.items():
        base, db = url.rsplit("/", 1)
        db = db.split("?")[0] + SUFFIX
        admin_sql(url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        admin_sql(url, f'CREATE DATABASE "{db}"')
        mine[name] = f"{base}/{db}"
    return mine


def drop_databases(urls: dict[str, str]) -> None:
    for url in urls.values():
        db = url.rsplit("/", 1)[1]
        try:
            admin_sql(url, f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        except Exception as exc:
            print(f"  (could not drop {db}: {exc})")


# --- the measurements ------------------------------------------------------------------------------

def seed_catalog(tenant_id: uuid.UUID, count: int) -> list[str]:
    from modules.inventory import api as inventory

    locales = {"en": "Noodles", "my": "ခေါက်ဆွဲ"}
    categories = [inventory.create_category(tenant_id=tenant_id, names={k: f"{v} {n}" for k, v in locales.items()},
                                            position=n).id for n in range(8)]
    extras = [{"key": "extras", "names": {"en": "Extras", "my": "အပို"}, "min_select": 0, "max_select": 2,
               "choices": [{"key": "egg", "names": {"en": "Egg", "my": "ကြက်ဥ"}, "price_delta": 500},
                           {"key": "fritter", "names": {"en": "Fritter", "my": "ပဲကြော်"}, "price_delta": 300}]}]
    ids = []
    for n in range(count):
        sizes = ["small", "large"] if n % 3 else ["small", "medium", "large"]
        variants = [{"key": key, "names": {"en": key.title(), "my": f"{key} (my)"}, "price": 2000 + 500 * i,
                     "option_groups": []} for i, key in enumerate(sizes)]
        info = inventory.create_product(
            tenant_id=tenant_id, names={"en": f"Dish {n}", "my": f"ဟင်း {n}"}, price=2000, variants=variants,
            option_groups=extras, category_id=categories[n % len(categories)], position=n,
            attributes={"halal": n % 2 == 0, "nutrition": {"kcal": 300 + n}})
        for key in sizes:
            inventory.adjust_stock(tenant_id=tenant_id, product_id=info.id, variant=key, kind="receive",
                                   quantity=100, reason="bench", actor="bench")
        ids.append(info.id)
    return ids


def bench_list(client, total: int, requests: int) -> list[dict]:
    import random

    from django.db import connections, reset_queries
    from django.test.utils import CaptureQueriesContext

    rows = []
    for size in [s for s in (10, 50, 100, 200) if s <= total] or [total]:
        timings, inventory_queries, all_queries = [], set(), set()
        for _ in range(requests):
            offset = random.randrange(0, max(1, total - size))
            reset_queries()  # the debug query log is capped; start each request from an empty one
            captures = [CaptureQueriesContext(connections[alias]) for alias in connections]
            for capture in captures:
                capture.__enter__()
            started = time.perf_counter()
            response = client.get(f"/api/v1/catalog/products?limit={size}&offset={offset}")
            elapsed = time.perf_counter() - started
            for capture in captures:
                capture.__exit__(None, None, None)
            assert response.status_code == 200, response.content[:300]
            assert len(response.json()["results"]) == size
            timings.append(elapsed * 1000)
            by_alias = {c.connection.alias: len(c) for c in captures}
            inventory_queries.add(by_alias["inventory"])
            all_queries.add(sum(by_alias.values()))
        rows.append({"size": size, "p50": percentile(timings, 50), "p99": percentile(timings, 99),
                     "inventory_queries": sorted(inventory_queries), "all_queries": sorted(all_queries)})
    return rows


def run_clients(clients: int, fn) -> list:
    from django.db import connections

    barrier = threading.Barrier(clients)
    results: list = [None] * clients

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = fn(index)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


def bench_reservations(tenant_id: uuid.UUID, clients: int, seconds: float) -> dict:
    from modules.inventory import api as inventory

    hot = inventory.create_product(tenant_id=tenant_id, names={"en": "Hot mohinga", "my": "မုန့်ဟင်းခါး"}, price=2500)
    inventory.adjust_stock(tenant_id=tenant_id, product_id=hot.id, variant=None, kind="receive", quantity=1_000_000,
                           reason="bench", actor="bench")

    def client(index: int) -> dict:
        latencies, reserved, committed, refused = [], 0, 0, 0
        deadline = time.monotonic() + seconds
        n = 0
        while time.monotonic() < deadline:
            n += 1
            started = time.perf_counter()
            try:
                held = inventory.reserve_stock(tenant_id=tenant_id, key=f"c{index}-{n}",
                                               lines=[inventory.StockLine(hot.id, None, 1)])
            except inventory.InsufficientStock:
                refused += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            reserved += 1
            if n % 2 == 0:  # half of the orders complete, as a saga would
                inventory.commit_reservation(tenant_id=tenant_id, reservation_id=held.id)
                committed += 1
        return {"latencies": latencies, "reserved": reserved, "committed": committed, "refused": refused}

    started = time.perf_counter()
    results = run_clients(clients, client)
    elapsed = time.perf_counter() - started
    latencies = [ms for r in results for ms in r["latencies"]]
    reserved = sum(r["reserved"] for r in results)
    committed = sum(r["committed"] for r in results)
    level = inventory.get_stock_levels(tenant_id=tenant_id, items=[(hot.id, None)])[(hot.id, None)]
    assert level.on_hand == 1_000_000 - committed and level.reserved == reserved - committed, level
    return {"reservations": reserved, "committed": committed, "seconds": elapsed, "per_second": reserved / elapsed,
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def bench_scarce(tenant_id: uuid.UUID, clients: int, stock: int = 50) -> dict:
    from modules.inventory import api as inventory

    scarce = inventory.create_product(tenant_id=tenant_id, names={"en": "Last bowls", "my": "နောက်ဆုံး"}, price=2500)
    inventory.adjust_stock(tenant_id=tenant_id, product_id=scarce.id, variant=None, kind="receive", quantity=stock,
                           reason="bench", actor="bench")

    def client(index: int) -> int:
        won = 0
        for n in range(stock):
            try:
                inventory.reserve_stock(tenant_id=tenant_id, key=f"s{index}-{n}",
                                        lines=[inventory.StockLine(scarce.id, None, 1)])
                won += 1
            except inventory.InsufficientStock:
                pass
        return won

    won = sum(run_clients(clients, client))
    level = inventory.get_stock_levels(tenant_id=tenant_id, items=[(scarce.id, None)])[(scarce.id, None)]
    return {"stock": stock, "attempts": clients * stock, "reserved": won, "level_reserved": level.reserved,
            "available": level.available}


def main() -> int:
    args = parse_args()
    sys.path.insert(0, str(ROOT))
    os.chdir(ROOT)
    original = bench_urls()
    print(f"inventory_bench: creating databases *{SUFFIX} on {original['DATABASE_URL'].rsplit('/', 1)[0]}")
    mine = create_databases(original)
    try:
        os.environ.update(mine)
        os.environ.setdefault("LOG_LEVEL", "WARNING")
        os.environ["POS_VAR_DIR"] = os.environ.get("POS_VAR_DIR") or str(ROOT / "var")
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
        import django

        django.setup()
        from django.core.management import call_command
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client's ALLOWED_HOSTS and no e-mail
        call_command("migrate_all", verbosity=0)
        from rest_framework.test import APIClient

        from modules.accounts import api as accounts

        tenant = accounts.create_tenant(name="Bench noodles", slug=f"bench-{uuid.uuid4().hex[:8]}")
        issued = accounts.create_terminal(tenant_id=tenant.id, name="Bench", role="cashier")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")

        started = time.perf_counter()
        seed_catalog(tenant.id, args.products)
        print(f"seeded {args.products} products with 2-3 variants each in {time.perf_counter() - started:.1f}s")

        print(f"\nGET /api/v1/catalog/products ({args.products} products, {args.requests} requests per page size)")
        print(f"{'page size':>10} {'p50 ms':>8} {'p99 ms':>8} {'queries: inventory':>19} {'all dbs':>8}")
        rows = bench_list(client, args.products, args.requests)
        for row in rows:
            print(f"{row['size']:>10} {row['p50']:>8.1f} {row['p99']:>8.1f} "
                  f"{','.join(map(str, row['inventory_queries'])):>19} {','.join(map(str, row['all_queries'])):>8}")
        from bench import report

        for row in rows:
            report.record("inventory_bench", f"catalog page of {row['size']}, {args.products} products p50",
                          row["p50"], "ms")
            report.record("inventory_bench", f"catalog page of {row['size']}, {args.products} products p99",
                          row["p99"], "ms")
        constant = len({tuple(r["inventory_queries"]) for r in rows}) == 1
        print("queries per request do not grow with page size" if constant
              else "WARNING: queries per request grow with page size")

        print(f"\nreservations: {args.clients} concurrent clients on one hot product for {args.seconds:.0f}s "
              "(reserve, then commit every second one)")
        hot = bench_reservations(tenant.id, args.clients, args.seconds)
        print(f"  {hot['reservations']} reservations ({hot['committed']} committed) in {hot['seconds']:.1f}s: "
              f"{hot['per_second']:.0f}/s, latency p50 {hot['p50']:.1f} ms, p99 {hot['p99']:.1f} ms; "
              "level agrees with the counts")
        scarce = bench_scarce(tenant.id, args.clients)
        print(f"  scarce stock: {scarce['attempts']} attempts by {args.clients} clients on {scarce['stock']} units -> "
              f"{scarce['reserved']} reserved, level reserved {scarce['level_reserved']}, available "
              f"{scarce['available']} (never oversold: {scarce['reserved'] == scarce['stock']})")
        report.record("inventory_bench", f"reservations, {args.clients} clients on one product", hot["per_second"],
                      "/s")
        report.record("inventory_bench", "scarce stock reserved / available", scarce["reserved"] / scarce["stock"],
                      "x", target=("==", 1))
        ok = constant and scarce["reserved"] == scarce["stock"] == scarce["level_reserved"]
        from django.db import connections

        connections.close_all()
        return 0 if ok else 1
    finally:
        drop_databases(mine)
        print(f"inventory_bench: dropped databases *{SUFFIX}")


if __name__ == "__main__":
    sys.exit(main())
