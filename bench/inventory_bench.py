"""Benchmark: the catalog list at two catalog sizes, bulk product creation, and reservations on PostgreSQL.

1. Bulk writes: products created one by one through inventory's api (create_product and a receive per stock
   item) and in batches (import_products: the same documents, opening stock in the ledger, events in the outbox),
   in products per second. The catalogs of step 2 are seeded by the batched path.
2. The catalog list (GET /api/v1/catalog/products) of a restaurant with 500 products and of one with 50,000 (both
   in the same database, vacuumed and analysed as autovacuum leaves them), by cursor (`?after=`, what a terminal
   syncing the catalog follows) and by offset (`?offset=`, random pages): p50/p99 per page size, the ratio of the
   large catalog's to the small one's (target: at most 2x), and the queries per request on every database, which
   must not grow with the page size or the catalog.
3. Reservation throughput: 20 concurrent clients reserving (and committing) one hot product; then 20 clients
   racing for a scarce stock, proving exactly the available quantity is reserved.

    DATABASE_URL=postgres://... DATABASE_URL_INVENTORY=postgres://... (and the other DATABASE_URL_*) \
        .venv/bin/python bench/inventory_bench.py [--products 500,50000] [--requests 40] [--clients 20]

It creates its own databases (`<name>_invbench` beside each configured PostgreSQL database), migrates them, and
drops them at the end; its events go to a broker queue of its own, deleted at the end. It exits with a message
when the inventory database is not PostgreSQL.
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
    parser.add_argument("--products", default=os.environ.get("BENCH_PRODUCTS", "500,50000"),
                        help="Catalog sizes, comma separated; the largest is compared with the smallest.")
    parser.add_argument("--batch", type=int, default=1000, help="Products per import_products call.")
    parser.add_argument("--one-by-one", type=int, default=100,
                        help="Products created one by one through create_product, to compare.")
    parser.add_argument("--clients", type=int, default=int(os.environ.get("BENCH_CLIENTS", "20")))
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", "5")))
    parser.add_argument("--requests", type=int, default=int(os.environ.get("BENCH_REQUESTS", "40")),
                        help="List requests per page size and way of paging.")
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

LOCALES = {"en": "Noodles", "my": "ခေါက်ဆွဲ"}
EXTRAS = [{"key": "extras", "names": {"en": "Extras", "my": "အပို"}, "min_select": 0, "max_select": 2,
           "choices": [{"key": "egg", "names": {"en": "Egg", "my": "ကြက်ဥ"}, "price_delta": 500},
                       {"key": "fritter", "names": {"en": "Fritter", "my": "ပဲကြော်"}, "price_delta": 300}]}]


def document(n: int, category_id: str, prefix: str = "dish") -> dict:
    """Product n: 2-3 sized variants with 100 of each in stock, a shared option group, attributes."""
    sizes = ["small", "large"] if n % 3 else ["small", "medium", "large"]
    return {"id": f"{prefix}-{n}", "names": {"en": f"Dish {n}", "my": f"ဟင်း {n}"}, "price": 2000,
            "variants": [{"key": key, "names": {"en": key.title(), "my": f"{key} (my)"}, "price": 2000 + 500 * i,
                          "option_groups": []} for i, key in enumerate(sizes)],
            "option_groups": EXTRAS, "category_id": category_id, "position": n,
            "attributes": {"halal": n % 2 == 0, "nutrition": {"kcal": 300 + n % 500}},
            "opening_stock": dict.fromkeys(sizes, 100)}


def categories_for(tenant_id: uuid.UUID) -> list[str]:
    from modules.inventory import api as inventory

    result = inventory.import_categories(tenant_id=tenant_id, categories=[
        {"id": f"cat-{n}", "names": {k: f"{v} {n}" for k, v in LOCALES.items()}, "position": n} for n in range(8)])
    return [result.ids[f"cat-{n}"] for n in range(8)]


def seed_one_by_one(tenant_id: uuid.UUID, count: int) -> float:
    """The per-call path: create_product, then a receive per stock item. Returns products per second."""
    from modules.inventory import api as inventory

    categories = categories_for(tenant_id)
    started = time.perf_counter()
    for n in range(count):
        doc = document(n, categories[n % len(categories)], "one")
        stock = doc.pop("opening_stock")
        info = inventory.create_product(tenant_id=tenant_id, product_id=doc.pop("id"), **doc)
        for key, quantity in stock.items():
            inventory.adjust_stock(tenant_id=tenant_id, product_id=info.id, variant=key, kind="receive",
                                   quantity=quantity, reason="bench", actor="bench")
    return count / (time.perf_counter() - started)


def seed_catalog(tenant_id: uuid.UUID, count: int, batch: int, prefix: str) -> float:
    """The batched path (import_products). Returns products per second."""
    from modules.inventory import api as inventory

    categories = categories_for(tenant_id)
    started = time.perf_counter()
    for first in range(0, count, batch):
        result = inventory.import_products(
            tenant_id=tenant_id, actor="bench", reason="bench",
            products=[document(n, categories[n % len(categories)], prefix)
                      for n in range(first, min(count, first + batch))])
        assert len(result.created) == min(batch, count - first), result
    return count / (time.perf_counter() - started)


def vacuum_analyze() -> None:
    """What autovacuum does to a table after a large import (visibility map, planner statistics)."""
    from django.db import connections

    with connections["inventory"].cursor() as cursor:
        for table in ("inventory_product", "inventory_stockitem", "inventory_category"):
            cursor.execute(f"VACUUM (ANALYZE) {table}")


def cursor_for(position: int, product_id: str) -> str:
    from pos.api.pagination import KeysetPagination

    paginator = KeysetPagination()
    paginator.keyset = ("position", "id")
    return paginator.encode_cursor(type("Row", (), {"position": position, "id": product_id}))


def bench_list(catalogs: dict[int, tuple], requests: int, paging: str) -> dict[int, list[dict]]:
    """`requests` list requests per page size at random places of each catalog (product n at position n, id
    "c<size>-<n>"), by cursor or by offset. The catalogs take turns request by request, so a load that comes and
    goes on the machine weighs on all of them alike. Timings in ms, queries per request per database."""
    import random

    from django.db import connections, reset_queries
    from django.test.utils import CaptureQueriesContext

    smallest = min(catalogs)
    pages = [s for s in (10, 50, 100, 200) if s < smallest] or [smallest - 1]
    rows: dict[int, list[dict]] = {total: [] for total in catalogs}
    for size in pages:
        timings = {total: [] for total in catalogs}
        inventory_queries = {total: set() for total in catalogs}
        all_queries = {total: set() for total in catalogs}
        for _ in range(requests):
            for total, (_tenant, client) in catalogs.items():
                start = random.randrange(0, max(1, total - size))
                if paging == "cursor":
                    path = f"/api/v1/catalog/products?limit={size}&after={cursor_for(start, f'c{total}-{start}')}"
                else:
                    path = f"/api/v1/catalog/products?limit={size}&offset={start}"
                reset_queries()  # the debug query log is capped; start each request from an empty one
                captures = [CaptureQueriesContext(connections[alias]) for alias in connections]
                for capture in captures:
                    capture.__enter__()
                started = time.perf_counter()
                response = client.get(path)
                elapsed = time.perf_counter() - started
                for capture in captures:
                    capture.__exit__(None, None, None)
                assert response.status_code == 200, response.content[:300]
                assert len(response.json()["results"]) == size, (path, len(response.json()["results"]))
                timings[total].append(elapsed * 1000)
                by_alias = {c.connection.alias: len(c) for c in captures}
                inventory_queries[total].add(by_alias["inventory"])
                all_queries[total].add(sum(by_alias.values()))
        for total in catalogs:
            rows[total].append({"size": size, "p50": percentile(timings[total], 50),
                                "p99": percentile(timings[total], 99),
                                "inventory_queries": sorted(inventory_queries[total]),
                                "all_queries": sorted(all_queries[total])})
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
        os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query
        import django

        django.setup()
        from django.test.utils import setup_test_environment

        setup_test_environment()  # the test client's ALLOWED_HOSTS and no e-mail
        from bench.broker import private_queue

        with private_queue("inventory"):  # its events' tasks (no worker runs here) are deleted with it
            return measure(args)
    finally:
        drop_databases(mine)
        print(f"inventory_bench: dropped databases *{SUFFIX}")


def measure(args: argparse.Namespace) -> int:
    """Seed, list, reserve; prints and records the figures. 0 when every check held."""
    from django.core.management import call_command

    call_command("migrate_all", verbosity=0)
    from rest_framework.test import APIClient

    from bench import report
    from modules.accounts import api as accounts

    sizes = sorted({int(size) for size in args.products.split(",")})
    one = accounts.create_tenant(name="Bench one by one", slug=f"bench-{uuid.uuid4().hex[:8]}")
    per_call = seed_one_by_one(one.id, args.one_by_one)
    print(f"bulk writes: {args.one_by_one} products one by one through create_product (+ a receive per stock "
          f"item): {per_call:,.0f} products/s")
    report.record("inventory_bench", "products created one by one (create_product)", per_call, "/s")
    catalogs = {}
    for size in sizes:
        tenant = accounts.create_tenant(name=f"Bench {size}", slug=f"bench-{size}-{uuid.uuid4().hex[:6]}")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION="Bearer " + accounts.create_terminal(
            tenant_id=tenant.id, name="Bench", role="cashier").token)
        batched = seed_catalog(tenant.id, size, args.batch, prefix=f"c{size}")
        print(f"bulk writes: {size:,} products (2-3 variants, opening stock) through import_products in batches "
              f"of {args.batch}: {batched:,.0f} products/s")
        catalogs[size] = (tenant, client)
    report.record("inventory_bench", f"products created in batches of {args.batch} (import_products)", batched,
                  "/s", target=(">=", 20 * per_call))
    vacuum_analyze()

    results: dict[tuple[str, int], list[dict]] = {}
    for _tenant, client in catalogs.values():
        client.get("/api/v1/catalog/products?limit=10")  # warm up
    for paging in ("cursor", "offset"):
        by_catalog = bench_list(catalogs, args.requests, paging)
        for size, rows in by_catalog.items():
            results[paging, size] = rows
            print(f"\nGET /api/v1/catalog/products by {paging} ({size:,} products, {args.requests} requests per "
                  "page size, random places)")
            print(f"{'page size':>10} {'p50 ms':>8} {'p99 ms':>8} {'queries: inventory':>19} {'all dbs':>8}")
            for row in rows:
                print(f"{row['size']:>10} {row['p50']:>8.1f} {row['p99']:>8.1f} "
                      f"{','.join(map(str, row['inventory_queries'])):>19} "
                      f"{','.join(map(str, row['all_queries'])):>8}")
    small, large = sizes[0], sizes[-1]
    if large != small:
        print(f"\n{large:,} products against {small:,}: ratio of the latencies (target: at most 2x)")
    for paging in ("cursor", "offset"):
        for row_small, row_large in zip(results[paging, small], results[paging, large], strict=True):
            page = row_small["size"]
            for stat in ("p50", "p99"):
                report.record("inventory_bench", f"catalog by {paging}, page of {page}, {large:,} products {stat}",
                              row_large[stat], "ms")
            if large == small:
                continue
            for stat in ("p50", "p99"):
                value = report.ratio(row_large[stat], row_small[stat])
                print(f"  by {paging}, page of {page}: {stat} {row_large[stat]:.1f} / {row_small[stat]:.1f} ms "
                      f"= {value:.2f}x")
                if page == 10 or paging == "cursor":
                    report.record("inventory_bench", f"catalog by {paging}, page of {page}: {stat} at {large:,} / "
                                  f"{small:,} products", value, "x", target=("<=", 2))
    # The catalog's own database must cost the same whatever the page size, the catalog or the place in it. The
    # other databases add the terminal's authentication: 1 query, 2 when its last-use time is refreshed (once a
    # minute), so their total is printed but not held constant.
    by_paging = {paging: {n for (p, _), rows in results.items() if p == paging for row in rows
                          for n in row["inventory_queries"]} for paging in ("cursor", "offset")}
    everything = {paging: {n for (p, _), rows in results.items() if p == paging for row in rows
                           for n in row["all_queries"]} for paging in ("cursor", "offset")}
    constant = all(len(counts) == 1 for counts in by_paging.values())
    print("queries per request on inventory's database, whatever the page size, catalog or place: "
          + ", ".join(f"by {p} {sorted(c)}" for p, c in by_paging.items())
          + ("" if constant else " (WARNING: not constant)")
          + "; on every database: " + ", ".join(f"by {p} {sorted(c)}" for p, c in everything.items()))
    for paging, counts in by_paging.items():
        report.record("inventory_bench", f"queries per catalog request by {paging}, inventory's database (max)",
                      max(counts), "", target=("==", 3 if paging == "cursor" else 4))
    tenant = catalogs[small][0]

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


if __name__ == "__main__":
    sys.exit(main())
