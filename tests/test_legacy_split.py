"""Splitting a legacy shared database (docs/LEGACY.md) into the module databases with `split_legacy`: checked
end to end through the terminal API, killed at random points and resumed, run twice, fed rows that violate the
schema, and never writing to the source."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections

from conftest import make_terminal_client
from modules.accounts import api as accounts
from ops.legacy.db import LegacyDatabaseError, LegacyDB
from ops.legacy.fixture import generate

pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")


def legacy(tmp_path: Path, *, tenants: int = 2, orders: int = 40, seed: int = 3) -> tuple[str, Path]:
    path = tmp_path / "legacy.sqlite3"
    url = f"sqlite:///{path}"
    generate(url, tenants=tenants, orders=orders, seed=seed)
    return url, path


def split(url: str, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("split_legacy", "--source", url, "--checkpoint", str(tmp_path / "checkpoint.json"), *args,
                     stdout=out, stderr=err)
        code = 0
    except CommandError as exc:
        err.write(str(exc))
        code = 1
    return code, out.getvalue(), err.getvalue()


def rows(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    with sqlite3.connect(path) as conn:
        return conn.execute(sql, params).fetchall()


def all_orders(client) -> list[dict]:
    found, offset = [], 0
    while True:
        page = client.get(f"/api/v1/orders?limit=200&offset={offset}").json()
        found.extend(page["results"])
        offset += 200
        if offset >= page["count"]:
            return found


def test_a_split_is_seen_through_the_terminal_api_with_snapshots_and_reports_that_add_up(tmp_path):
    url, path = legacy(tmp_path, tenants=3, orders=60)
    code, out, err = split(url, tmp_path, "--batch", "25")
    assert code == 0, out + err
    assert "Verification PASSED: 3 restaurant(s) of 3" in out
    assert re.search(r"\[split\] legacy-3: [\d,]+/[\d,]+ order lines \(100\.0%\), 180 orders, [\d,]+ lines/s, ETA", err)

    tenant = accounts.get_tenant_by_slug("legacy-1")
    assert (tenant.currency, tenant.timezone, tenant.locales) == ("MMK", "Asia/Yangon", ("en", "my"))
    client = make_terminal_client(tenant, "manager")
    orders = {order["number"]: order for order in all_orders(client)}
    legacy_orders = rows(path, "SELECT id, total, status FROM orders WHERE restaurant_id = 1")
    assert sorted(orders) == sorted(f"L{oid}" for oid, _, _ in legacy_orders)
    for oid, total, status in legacy_orders:
        order = orders[f"L{oid}"]
        assert order["totals"]["grand_total"] == {"amount": int(Decimal(str(total))), "currency": "MMK"}
        assert order["status"] in (("cancelled",) if status == "void" else ("completed", "refunded",
                                                                            "partially_refunded"))
    # every line is there with what was sold; the documented fallback is flagged on the line
    lines = rows(path, "SELECT l.id, l.order_id, l.product_id, l.quantity, l.price_at_order_time, p.current_price, "
                       "p.name_en FROM order_lines l JOIN orders o ON o.id = l.order_id "
                       "LEFT JOIN products p ON p.id = l.product_id WHERE o.restaurant_id = 1 AND l.variant_id IS NULL "
                       "ORDER BY l.id")
    items = {(order["number"], item["product_id"], item["quantity"]): item for order in orders.values()
             for item in order["items"]}
    seen_fallback = seen_deleted = 0
    for _lid, oid, pid, quantity, price, current, _name in lines:
        item = items[(f"L{oid}", f"legacy-{pid}", quantity)]
        if current is None:
            seen_deleted += 1
            assert "product:deleted" in item["flags"]
        elif price is None:
            seen_fallback += 1
            assert "price:current_price" in item["flags"]
            assert item["unit_price"]["amount"] == int(Decimal(str(current)))
        else:
            assert item["unit_price"]["amount"] == int(Decimal(str(price)))
    assert seen_fallback and seen_deleted, "the generated database should hold both inconsistencies"
    # a product renamed after it was sold keeps the name it had on the orders before the rename
    renamed = rows(path, "SELECT r.product_id, r.old_name_en FROM product_renames r JOIN products p "
                         "ON p.id = r.product_id WHERE p.restaurant_id = 1")
    names = {item["product_names"]["en"] for order in orders.values() for item in order["items"]
             if item["product_id"] == f"legacy-{renamed[0][0]}"} if renamed else set()
    assert not renamed or renamed[0][1] in names or names == set()
    # the sales report adds up to the orders' grand totals
    report = client.get("/api/v1/reports/sales?from=2025-02-01&to=2025-07-31&group_by=day").json()
    sold = sum(o["totals"]["grand_total"]["amount"] for o in orders.values() if o["status"] != "cancelled")
    assert report["totals"]["gross"] == sold
    assert report["totals"]["refunds"] == sum(o["totals"]["refunded"]["amount"] for o in orders.values())
    # the catalog and its opening stock, through the ledger
    simple = rows(path, "SELECT id, name_en, current_price, stock_count FROM products WHERE restaurant_id = 1 "
                        "AND id NOT IN (SELECT product_id FROM product_variants) AND stock_count IS NOT NULL")
    for pid, name_en, price, stock in simple:
        product = client.get(f"/api/v1/catalog/products/legacy-{pid}").json()
        assert product["names"]["en"] == name_en and product["price"]["amount"] == int(Decimal(str(price)))
        assert product["stock_level"] == max(stock, 0)
    # another restaurant's terminal sees none of it
    other = make_terminal_client(accounts.get_tenant_by_slug("legacy-2"), "manager")
    assert other.get(f"/api/v1/orders/{next(iter(orders.values()))['id']}").status_code == 404


def _counts() -> dict[str, int]:
    tables = {}
    for alias in settings.DATABASES:
        with connections[alias].cursor() as cursor:
            names = [t for t in connections[alias].introspection.table_names(cursor)
                     if not t.startswith(("django_", "auth_")) and t != "evt_test_effect"]
            for table in names:
                cursor.execute(f'SELECT count(*) FROM "{table}"')  # noqa: S608 - our own table names
                tables[f"{alias}.{table}"] = cursor.fetchone()[0]
    return tables


def test_running_twice_changes_nothing_and_prints_the_same_report(tmp_path):
    url, _ = legacy(tmp_path, tenants=2, orders=30)
    first = split(url, tmp_path)
    assert first[0] == 0, first[1] + first[2]
    before = _counts()
    second = split(url, tmp_path)
    assert second[0] == 0 and _counts() == before
    assert second[1] == first[1]
    assert before["pos_core.pos_core_order"] == 60


def test_a_dry_run_writes_nothing_and_prints_the_same_report(tmp_path):
    url, _ = legacy(tmp_path, tenants=2, orders=30)
    before = _counts()
    dry = split(url, tmp_path, "--dry-run")
    assert dry[0] == 0 and _counts() == before
    assert not (tmp_path / "checkpoint.json").exists()
    real = split(url, tmp_path)

    def body(text: str) -> list[str]:  # the same report, but for its title and the tenant ids just created
        return [re.sub(r"tenant [^)]*\)", "tenant)", line) for line in text.splitlines()[1:]]

    assert body(dry[1]) == body(real[1])
    assert "DRY RUN" in dry[1].splitlines()[0]


def test_the_legacy_database_is_never_written(tmp_path):
    url, path = legacy(tmp_path, tenants=1, orders=20)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert split(url, tmp_path)[0] == 0
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest
    source = LegacyDB(url, read_only=True)
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        source.execute("DELETE FROM orders")
    source.close()


def test_rows_that_violate_the_schema_become_anomalies_not_crashes(tmp_path):
    url, path = legacy(tmp_path, tenants=1, orders=30)
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE order_lines SET quantity = -2 WHERE id = 3")
        conn.execute("UPDATE orders SET currency = 'XYZ' WHERE id = 5")
        conn.execute("UPDATE orders SET created_at = 'yesterday evening' WHERE id = 6")
        conn.execute("UPDATE payments SET method = 'bitcoin' WHERE order_id = 7")
        conn.execute("UPDATE products SET current_price = '-12' WHERE id = 2")
        conn.execute("INSERT INTO refunds (id, payment_id, amount, reason, refunded_at) "
                     "SELECT 9001, id, amount * 2, 'too much', paid_at FROM payments WHERE order_id = 8 LIMIT 1")
    code, out, err = split(url, tmp_path)
    assert code == 0, out + err
    line_order = rows(path, "SELECT order_id FROM order_lines WHERE id = 3")[0][0]
    assert f"legacy-1 order_line 3: bad_quantity: quantity -2 on order {line_order} -> line not imported" in out
    assert "legacy-1 order 5: unknown_currency: currency 'XYZ'" in out
    assert "legacy-1 order 6: unreadable_time: created_at 'yesterday evening'" in out
    assert re.search(r"legacy-1 payment \d+: unknown_method: 'bitcoin' .* -> payment not imported", out)
    assert "legacy-1 product 2: bad_price" in out
    assert "legacy-1 refund 9001: bad_refund" in out
    assert "Verification PASSED" in out
    client = make_terminal_client(accounts.get_tenant_by_slug("legacy-1"), "manager")
    numbers = {order["number"]: order for order in all_orders(client)}
    assert "L5" not in numbers and "L6" not in numbers and len(numbers) == 28
    legacy_lines = rows(path, "SELECT count(*) FROM order_lines WHERE order_id = ?", (line_order,))[0][0]
    assert len(numbers[f"L{line_order}"]["items"]) == legacy_lines - 1


def test_verification_fails_with_a_non_zero_exit_when_the_figures_do_not_add_up(tmp_path):
    url, path = legacy(tmp_path, tenants=1, orders=20)
    assert split(url, tmp_path)[0] == 0
    with sqlite3.connect(path) as conn:  # the legacy database changed after it was split
        conn.execute("UPDATE orders SET total = total + 100 WHERE id = 4")
    code, out, err = split(url, tmp_path)
    assert code == 1 and "Verification failed" in err
    assert "MISMATCH" in out and "Verification FAILED" in out


@pytest.mark.parametrize("args, message", [
    (["--batch", "0"], "--batch must be between"),
    (["--dry-run", "--resume"], "nothing to resume"),
    (["--tenant", "legacy-9"], "no restaurant 'legacy-9'"),
])
def test_bad_options_are_refused_clearly(tmp_path, args, message):
    url, _ = legacy(tmp_path, tenants=1, orders=5)
    code, _, err = split(url, tmp_path, *args)
    assert code == 1 and message in err
    assert split("sqlite:///" + str(tmp_path / "missing.sqlite3"), tmp_path)[2].startswith("No legacy database")
    with pytest.raises(LegacyDatabaseError, match="Unsupported"):
        LegacyDB("mysql://x/y", read_only=True)


# --- killed at random points, resumed: the same as an uninterrupted run --------------------------------------

def _subprocess_env() -> dict:
    env = dict(os.environ)
    for alias in settings.DATABASES:
        db = connections[alias].settings_dict
        name = "DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"
        if connections[alias].vendor == "sqlite":
            env[name] = f"sqlite:///{db['NAME']}"
        else:
            auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
            env[name] = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env.update({"PYTHONUNBUFFERED": "1", "LOG_LEVEL": "WARNING"})
    return env


def _state() -> dict:
    """Everything the split wrote, keyed by natural keys (ids derived from a tenant's random id are not)."""
    from modules.accounts.models import Tenant, User
    from modules.inventory.models import Category, Movement, Product, StockItem
    from modules.payment.models import Payment, Refund
    from modules.pos_core.models import Order, OrderItem, OrderRefund
    from pos.models import OutboxEvent
    from pos.tenancy import all_tenants

    with all_tenants():
        payments = {str(p.id): p.idempotency_key for p in Payment.objects.using("payment").all()}
        orders = {str(o.id): o.idempotency_key for o in Order.objects.using("pos_core").all()}
        return {
            "tenants": sorted(Tenant.objects.values_list("slug", "name", "currency", "timezone")),
            "staff": sorted(User.objects.values_list("username", "role", "email", "is_staff", "tenant__slug")),
            "categories": sorted(Category.objects.using("inventory").values_list("id", "names", "position")),
            "products": sorted((p.id, str(p.names), p.price_amount, str(p.variants), p.track_stock, p.is_active)
                               for p in Product.objects.using("inventory").all()),
            "stock": sorted(StockItem.objects.using("inventory").values_list("product_id", "variant", "on_hand",
                                                                             "reserved", "sequence")),
            "ledger": sorted(Movement.objects.using("inventory").values_list("product_id", "variant", "kind",
                                                                            "quantity", "sequence", "reference")),
            "orders": sorted((o.idempotency_key, o.number, o.status, o.total, o.grand_total, o.subtotal, o.refunded,
                              payments.get(o.payment_id, o.payment_id), o.payment_method, o.placed_at.isoformat(),
                              o.note) for o in Order.objects.using("pos_core").all()),
            "items": sorted((orders[str(i.order_id)], i.position, i.product_id, i.variant, str(i.product_names),
                             i.unit_price, i.quantity, i.line_total, i.allocated_total, str(i.snapshot))
                            for i in OrderItem.objects.using("pos_core").all()),
            "order_refunds": sorted((orders[str(r.order_id)], r.idempotency_key, r.amount, r.created_at.isoformat())
                                    for r in OrderRefund.objects.using("pos_core").all()),
            "payments": sorted((p.idempotency_key, p.method, p.status, p.amount, p.captured_amount, p.refunded_amount,
                                p.tendered, p.created_at.isoformat(), orders.get(p.reference, p.reference))
                               for p in Payment.objects.using("payment").all()),
            "refunds": sorted((r.idempotency_key, payments[str(r.payment_id)], r.amount, r.status,
                               r.created_at.isoformat()) for r in Refund.objects.using("payment").all()),
            "events": sorted((alias, name, n) for alias in ("inventory", "payment", "pos_core")
                             for name, n in _event_counts(OutboxEvent, alias)),
        }


def _event_counts(model, alias):
    from django.db.models import Count

    return model.objects.using(alias).values_list("name").annotate(n=Count("id")).values_list("name", "n")


def _flush_all() -> None:
    for alias in settings.DATABASES:
        call_command("flush", database=alias, interactive=False, verbosity=0)


def _progress(checkpoint: Path) -> int:
    try:
        return sum(t["after_order_id"] for t in json.loads(checkpoint.read_text())["tenants"].values())
    except (OSError, ValueError, KeyError):
        return -1


def test_a_run_killed_at_random_points_and_resumed_equals_an_uninterrupted_run(tmp_path):
    url, _ = legacy(tmp_path, tenants=2, orders=150, seed=11)
    assert split(url, tmp_path, "--batch", "10")[0] == 0
    uninterrupted = _state()
    _flush_all()

    rng = random.Random(14)
    checkpoint = tmp_path / "killed.json"
    argv = [sys.executable, "manage.py", "split_legacy", "--source", url, "--batch", "10",
            "--checkpoint", str(checkpoint)]
    kills = 0
    for attempt in range(12):
        process = subprocess.Popen(argv + (["--resume"] if attempt else []), cwd=settings.BASE_DIR,
                                   env=_subprocess_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                   start_new_session=True)
        if kills < 4:
            # once this run has written a batch of its own, kill it at a random moment of the next ones
            reached = _progress(checkpoint)
            deadline = time.monotonic() + 120
            while process.poll() is None and _progress(checkpoint) <= reached and time.monotonic() < deadline:
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 0.6))
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)  # a crash: no cleanup, no last checkpoint
                process.wait(10)
                kills += 1
                continue
        process.wait(300)
        assert process.returncode == 0, process.stderr.read().decode()[-3000:]
        break
    else:
        pytest.fail("the split never finished")
    assert kills >= 2, "the run finished before it could be killed twice: give it more orders"
    assert _state() == uninterrupted
