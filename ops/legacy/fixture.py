"""A realistic legacy shared database (docs/LEGACY.md), with the inconsistencies real ones have.

Deterministic for a seed. Restaurants get the slugs legacy-1 ... legacy-N; every third one is a Bangkok
branch selling in THB (two decimals, English only), the others sell in MMK in English and Burmese.
Inconsistencies written on purpose (rates are per row, drawn from the seed):
- order lines pointing at products deleted since (the rows are gone, the lines keep their ids);
- `price_at_order_time` missing on some lines;
- duplicate users (the same person twice: the username in another case or with a stray space, same email),
  and a role the new system does not know ("kitchen");
- products renamed after they were sold (the old name is in `product_renames`);
- payments that do not add up to their order (short or over), paid orders with no payment, split payments;
- mixed-up time zones: most times are the restaurant's local wall time without an offset, some (written by
  the mobile app) are UTC with a trailing "Z";
- Burmese names missing, stock counts below zero, payment methods spelled several ways.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from .db import LegacyDB
from .schema import DDL, TABLES

END = datetime(2025, 6, 30, 22, 0)  # the last day of trading in the legacy system (local wall time)
DAYS = 120

COLUMNS = {
    "restaurants": ("id", "slug", "name", "currency", "timezone", "languages"),
    "users": ("id", "restaurant_id", "username", "email", "full_name", "role", "password_hash", "created_at"),
    "categories": ("id", "restaurant_id", "name_en", "name_my", "position"),
    "products": ("id", "restaurant_id", "category_id", "name_en", "name_my", "current_price", "stock_count",
                 "is_active"),
    "product_variants": ("id", "product_id", "name_en", "name_my", "price", "stock_count"),
    "product_renames": ("id", "product_id", "old_name_en", "old_name_my", "renamed_at"),
    "orders": ("id", "restaurant_id", "user_id", "table_no", "status", "total", "currency", "created_at"),
    "order_lines": ("id", "order_id", "product_id", "variant_id", "quantity", "price_at_order_time"),
    "payments": ("id", "order_id", "method", "amount", "currency", "tendered", "paid_at"),
    "refunds": ("id", "payment_id", "amount", "reason", "refunded_at"),
}

DISHES = [("Mohinga", "မုန့်ဟင်းခါး"), ("Shan noodles", "ရှမ်းခေါက်ဆွဲ"), ("Nan gyi thoke", "နန်းကြီးသုပ်"),
          ("Ohn no khao swe", "အုန်းနို့ခေါက်ဆွဲ"), ("Tea leaf salad", "လက်ဖက်သုပ်"), ("Fried rice", "ထမင်းကြော်"),
          ("Milk tea", "လက်ဖက်ရည်"), ("Lime juice", "သံပုရာရည်"), ("Samosa", "စမူဆာ"), ("Palata", "ပလာတာ"),
          ("Coconut noodles", "အုန်းနို့"), ("Chicken curry", "ကြက်သားဟင်း"), ("Fish curry", "ငါးဟင်း"),
          ("Pork curry", "ဝက်သားဟင်း"), ("Lentil soup", "ပဲဟင်းချို"), ("Sticky rice", "ကောက်ညှင်း"),
          ("Falooda", "ဖါလူဒါ"), ("Coffee", "ကော်ဖီ"), ("Sugar cane juice", "ကြံရည်"), ("Spring rolls", "ကော်ပြန့်")]
CATEGORIES = [("Noodles", "ခေါက်ဆွဲ"), ("Rice", "ထမင်း"), ("Curries", "ဟင်း"), ("Drinks", "အချိုရည်"),
              ("Snacks", "မုန့်")]
STAFF = [("owner", "owner"), ("manager", "manager"), ("cashier", "cashier"), ("cashier", "cashier"),
         ("waiter", "waiter"), ("waiter", "waiter"), ("kitchen", "kitchen")]
METHODS = ["cash"] * 6 + ["card", "kbzpay", "wavepay", "CASH", "Visa", "KBZPay"]


@dataclass
class FixtureSummary:
    counts: dict[str, int] = field(default_factory=dict)

    def line(self) -> str:
        return ", ".join(f"{table} {self.counts.get(table, 0):,}" for table in TABLES)


class _Writer:
    """Rows buffered per table and written in chunks: COPY on PostgreSQL, executemany on SQLite."""

    def __init__(self, db: LegacyDB, chunk: int = 10_000) -> None:
        self.db, self.chunk = db, chunk
        self.buffers: dict[str, list[tuple]] = {table: [] for table in TABLES}
        self.counts: dict[str, int] = dict.fromkeys(TABLES, 0)

    def add(self, table: str, row: tuple) -> None:
        buffer = self.buffers[table]
        buffer.append(row)
        self.counts[table] += 1
        if len(buffer) >= self.chunk:
            self.flush(table)

    def flush(self, table: str | None = None) -> None:
        for name in [table] if table else list(self.buffers):
            rows = self.buffers[name]
            if not rows:
                continue
            columns = COLUMNS[name]
            if self.db.vendor == "postgresql":
                with self.db.conn.cursor().copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(columns))
                self.db.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})",  # noqa: S608
                                    [tuple(str(v) if isinstance(v, Decimal) else v for v in row) for row in rows])
            rows.clear()


def _money(minor: int, exponent: int) -> Decimal:
    return Decimal(minor).scaleb(-exponent).quantize(Decimal(1).scaleb(-2))


def _stamp(local: datetime, zone: ZoneInfo, utc: bool) -> str:
    """How the legacy clients wrote times: local wall time without an offset, or (the mobile app) UTC + 'Z'."""
    if utc:
        return local.replace(tzinfo=zone).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def generate(url: str, *, tenants: int, orders: int, seed: int = 1, lines: int | None = None,
             progress: Callable[[str], None] | None = None) -> FixtureSummary:
    """Create the legacy tables in the (empty) database at `url` and fill them: `tenants` restaurants with
    `orders` orders each (1-7 lines an order; `lines` fixes the total number of order lines instead)."""
    if tenants < 1 or orders < 0:
        raise ValueError("Give at least one restaurant and zero or more orders.")
    if lines is not None and not tenants * orders <= lines <= tenants * orders * 7:
        raise ValueError("lines must be between one and seven per order.")
    rng = random.Random(seed)
    db = LegacyDB(url, read_only=False)
    try:
        existing = db.all("SELECT count(*) FROM restaurants") if _has_table(db, "restaurants") else None
        if existing is not None:
            raise ValueError("The target already holds a legacy database; give an empty one.")
        for statement in DDL:
            db.execute(statement)
        writer = _Writer(db)
        ids = dict.fromkeys(TABLES, 0)

        def next_id(table: str) -> int:
            ids[table] += 1
            return ids[table]

        remaining_lines = lines
        remaining_orders = tenants * orders
        for number in range(1, tenants + 1):
            thai = number % 3 == 0
            currency, exponent = ("THB", 2) if thai else ("MMK", 0)
            zone = ZoneInfo("Asia/Bangkok" if thai else "Asia/Yangon")
            bilingual = not thai
            rid = next_id("restaurants")
            writer.add("restaurants", (rid, f"legacy-{number}", f"{'Bangkok' if thai else 'Yangon'} Noodle House "
                                       f"{number}", currency, zone.key, "en,my" if bilingual else "en"))
            # staff, with one person entered twice
            staff_ids = []
            for index, (login, role) in enumerate(STAFF):
                uid = next_id("users")
                staff_ids.append(uid)
                email = f"{login}{index}@r{number}.example"
                writer.add("users", (uid, rid, f"{login}{index}", email, f"{login.title()} {index}", role,
                                     "md5$legacy", (END - timedelta(days=DAYS + 30)).strftime("%Y-%m-%d %H:%M:%S")))
                if role == "cashier" and index == 2:
                    writer.add("users", (next_id("users"), rid, f"{login.title()}{index} ", email,
                                         f"{login.title()} {index}", role, "md5$legacy",
                                         (END - timedelta(days=DAYS)).strftime("%Y-%m-%d %H:%M:%S")))
            # catalog
            category_ids = []
            for position, (en, my) in enumerate(CATEGORIES):
                cid = next_id("categories")
                category_ids.append(cid)
                writer.add("categories", (cid, rid, en, my if bilingual else None, position))
            products: list[dict] = []
            for index in range(40):
                en, my = DISHES[index % len(DISHES)]
                en = en if index < len(DISHES) else f"{en} special"
                pid = next_id("products")
                base = rng.randrange(10, 160) * 50 if not thai else rng.randrange(3000, 25000, 25)
                product = {"id": pid, "name": en, "price": base, "variants": [], "renamed_at": None}
                if rng.random() * 100 < 25:
                    for size, tenths in (("Small", 10), ("Large", 14)):
                        vid = next_id("product_variants")
                        price = base * tenths // 10 // 50 * 50 if not thai else base * tenths // 10 // 25 * 25
                        product["variants"].append((vid, price))
                        writer.add("product_variants", (vid, pid, size, ("အသေး" if size == "Small" else "အကြီး")
                                                        if bilingual else None, _money(price, exponent),
                                                        rng.randrange(-3, 80)))
                if rng.random() * 100 < 6:  # renamed after it was sold: the old name until renamed_at
                    product["renamed_at"] = END - timedelta(days=rng.randrange(10, DAYS - 10))
                    writer.add("product_renames", (next_id("product_renames"), pid, f"{en} (old recipe)",
                                                   f"{my} (ဟောင်း)" if bilingual else None,
                                                   product["renamed_at"].strftime("%Y-%m-%d %H:%M:%S")))
                stock = None if rng.random() * 100 < 10 else rng.randrange(-5, 200)
                missing_my = bilingual and rng.random() * 100 < 8
                product["row"] = (pid, rid, rng.choice(category_ids), en, None if missing_my or not bilingual else my,
                                  _money(base, exponent), stock, rng.random() * 100 > 5)
                product["deleted"] = rng.random() * 100 < 4
                products.append(product)
            for product in products:
                if not product["deleted"]:
                    writer.add("products", product["row"])
            # orders
            for _ in range(orders):
                oid = next_id("orders")
                local = END - timedelta(seconds=rng.randrange(DAYS * 86400))
                utc = rng.random() * 100 < 10
                if remaining_lines is None:
                    count = rng.randint(1, 7)
                else:
                    low = max(1, remaining_lines - 7 * (remaining_orders - 1))
                    high = min(7, remaining_lines - (remaining_orders - 1))
                    count = remaining_lines if remaining_orders == 1 else max(low, min(high, rng.randint(1, 7)))
                    remaining_lines -= count
                    remaining_orders -= 1
                total = 0
                for _line in range(count):
                    product = rng.choice(products)
                    variant_id, price = rng.choice(product["variants"]) if product["variants"] else (None,
                                                                                                     product["price"])
                    quantity = rng.randint(1, 3)
                    total += price * quantity
                    recorded = None if rng.random() * 100 < 5 else _money(price, exponent)
                    writer.add("order_lines", (next_id("order_lines"), oid, product["id"], variant_id, quantity,
                                               recorded))
                void = rng.random() * 100 < 2
                writer.add("orders", (oid, rid, rng.choice(staff_ids), str(rng.randint(1, 20)) if rng.random() * 100 < 60
                                      else None, "void" if void else "paid", _money(total, exponent), currency,
                                      _stamp(local, zone, utc)))
                if void:
                    continue
                roll = rng.random()
                paid_local = local + timedelta(minutes=rng.randint(0, 30))
                if roll * 100 < 2:
                    parts = []  # "paid" with no payment recorded
                elif roll * 100 < 5:
                    step = 50 if not thai else 100
                    parts = [total + rng.choice([-step, step, 2 * step])]  # does not add up
                elif roll * 100 < 9 and total >= 200:
                    first = total // 2 // 50 * 50 if not thai else total // 2
                    parts = [first, total - first]  # split between two methods
                else:
                    parts = [total]
                for index, amount in enumerate(parts):
                    if amount <= 0:
                        continue
                    method = "card" if index == 1 else rng.choice(METHODS)
                    tendered = None
                    if method.lower() == "cash" and not thai:
                        tendered = _money(-(-amount // 1000) * 1000, exponent)
                    pay_id = next_id("payments")
                    writer.add("payments", (pay_id, oid, method, _money(amount, exponent), currency, tendered,
                                            _stamp(paid_local, zone, utc)))
                    if rng.random() * 100 < 3:
                        refund = amount if rng.random() * 100 < 50 else max(1, amount // 3)
                        writer.add("refunds", (next_id("refunds"), pay_id, _money(refund, exponent),
                                               rng.choice(["wrong dish", "customer complaint", "double charge"]),
                                               _stamp(paid_local + timedelta(hours=rng.randint(1, 30)), zone, utc)))
                if progress and oid % 20_000 == 0:
                    progress(f"  {oid:,} orders, {writer.counts['order_lines']:,} lines written")
        writer.flush()
        db.commit()
        return FixtureSummary(counts=dict(writer.counts))
    finally:
        db.close()


def _has_table(db: LegacyDB, name: str) -> bool:
    if db.vendor == "postgresql":
        return bool(db.all("SELECT to_regclass(%s)", [name])[0][0])
    return bool(db.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = %s", [name]))
