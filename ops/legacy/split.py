"""The split: legacy restaurants, staff, catalog, orders, payments and refunds into the module databases,
through each module's api only (accounts, inventory, pos_core, payment), never touching another module's tables
and never writing to the legacy database.

Idempotent: every row is imported under its legacy id as a natural key (`legacy:<id>`, `legacy-<id>`), and every
module's import skips keys it already holds, so a second run adds nothing. Resumable: orders go in batches in
legacy id order; after each batch is written to payment and pos_core, a checkpoint file records the last order
id and how far the anomaly log had grown; `--resume` continues after it. A batch cut short by a crash is written
again on resume and its rows are found and skipped. Streamed: one page of orders with their lines, payments and
refunds in memory at a time, so memory does not grow with the database.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core import api as pos_core
from pos.money import CURRENCY_EXPONENTS
from pos.numbers import is_integer

from . import transform as tf
from .db import LegacyDB, redact

SOURCE = "legacy-split"
ACTOR = "legacy-split"
KEY_PREFIX = "legacy:"
TOTALS = ("orders", "total", "lines", "payments", "captured", "refunds", "refunded")


def order_key(oid: int) -> str:
    return f"legacy:{oid}"


def payment_key(pid: int) -> str:
    return f"legacy:p{pid}"


def refund_key(rid: int) -> str:
    return f"legacy:r{rid}"


def product_key(pid: int) -> str:
    return f"legacy-{pid}"


def category_key(cid: int) -> str:
    return f"legacy-cat-{cid}"


class SplitError(Exception):
    """The split cannot start or go on (bad options, unreadable source, a module refusing a whole batch)."""


# --- anomalies: an append-only JSON-lines log, truncated back to the checkpoint on resume ------------------

class AnomalyLog:
    def __init__(self, path: Path, *, keep_bytes: int = 0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "ab") as handle:
            handle.truncate(keep_bytes)
        self.handle = open(path, "a", encoding="utf-8")
        self.muted = False

    def add(self, *, tenant: str, entity: str, legacy_id: Any, kind: str, detail: str, action: str,
            day: str | None = None, excluded: dict[str, int] | None = None) -> None:
        if self.muted:
            return
        record = {"tenant": tenant, "entity": entity, "legacy_id": legacy_id, "kind": kind, "detail": detail,
                  "action": action}
        if excluded:
            record["day"] = day or "unknown"
            record["excluded"] = excluded
        self.handle.write(json.dumps(record, ensure_ascii=False) + "\n")

    def sync(self) -> int:
        """Flush to disk; the size the checkpoint records."""
        self.handle.flush()
        os.fsync(self.handle.fileno())
        return self.handle.tell()

    def records(self) -> Iterable[dict]:
        self.handle.flush()
        with open(self.path, encoding="utf-8") as handle:
            for line in handle:
                yield json.loads(line)

    def close(self) -> None:
        self.handle.close()


class Checkpoint:
    """What is done, written atomically (temporary file, fsync, rename) after every batch."""

    def __init__(self, path: Path, identity: str) -> None:
        self.path = path
        self.identity = identity
        self.state: dict[str, Any] = {"identity": identity, "tenants": {}, "anomaly_bytes": 0}

    def load(self) -> bool:
        if not self.path.exists():
            return False
        try:
            state = json.loads(self.path.read_text())
        except (OSError, ValueError) as exc:
            raise SplitError(f"The checkpoint {self.path} is unreadable ({exc}); run without --resume.") from exc
        if state.get("identity") != self.identity:
            raise SplitError(f"The checkpoint {self.path} belongs to another source or tenant; run without --resume.")
        self.state = state
        return True

    def tenant(self, slug: str) -> dict[str, Any]:
        return self.state["tenants"].setdefault(slug, {"phase": "start", "after_order_id": 0, "lines_done": 0})

    def save(self, anomaly_bytes: int) -> None:
        self.state["anomaly_bytes"] = anomaly_bytes
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".checkpoint-")
        with os.fdopen(fd, "w") as handle:
            json.dump(self.state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, self.path)


class Progress:
    def __init__(self, total_lines: int, stream: TextIO, every: int = 2) -> None:
        self.total, self.stream, self.every = total_lines, stream, every
        self.done = self.started_with = 0
        self.orders = 0
        self.started = time.monotonic()
        self.last = 0

    def advance(self, slug: str, lines: int, orders: int, *, force: bool = False) -> None:
        self.done += lines
        self.orders += orders
        now = time.monotonic()
        if not force and now - self.last < self.every:
            return
        self.last = now
        elapsed = (now - self.started) or 1
        rate = (self.done - self.started_with) / elapsed
        left = max(self.total - self.done, 0)
        eta = f"{int(left / rate) // 60}m{int(left / rate) % 60:02d}s" if rate > 0 else "?"
        share = 100 * self.done / self.total if self.total else 100
        self.stream.write(f"[split] {slug}: {self.done:,}/{self.total:,} order lines ({share:.1f}%), "
                          f"{self.orders:,} orders, {rate:,.0f} lines/s, ETA {eta}\n")
        self.stream.flush()


# --- the per-restaurant state the order phase needs (small: staff and catalog, never orders) ---------------

@dataclass
class Catalog:
    products: dict[int, dict[str, Any]] = field(default_factory=dict)  # legacy id -> what a snapshot needs
    variants: dict[int, tuple[int, str, dict[str, str], int]] = field(default_factory=dict)  # vid -> (pid, key,...)


@dataclass
class TenantRun:
    slug: str
    legacy_id: int
    name: str
    currency: str
    exponent: int
    zone: ZoneInfo
    locales: tuple[str, ...]
    tenant_id: Any = None
    staff: dict[int, str] = field(default_factory=dict)  # legacy user id -> username
    catalog: Catalog = field(default_factory=Catalog)
    counts: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(int)))
    planned: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(lambda: dict.fromkeys(TOTALS, 0)))


@dataclass
class SplitResult:
    ok: bool
    report: str


class Splitter:
    def __init__(self, *, source: str, tenant: str | None = None, dry_run: bool = False, batch: int = 500,
                 resume: bool = False, checkpoint: str | None = None, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr, base_dir: Path | None = None,
                 after_batch: Callable[[str, int], None] | None = None) -> None:
        if batch < 1 or batch > 10_000:
            raise SplitError("--batch must be between 1 and 10000 orders.")
        if dry_run and resume:
            raise SplitError("--dry-run writes nothing, so there is nothing to resume: drop one of them.")
        self.source, self.tenant_filter, self.dry_run, self.batch = source, tenant, dry_run, batch
        self.resume, self.out, self.err = resume, out, err
        self.after_batch = after_batch
        identity = hashlib.sha256(f"{redact(source)}|{tenant or '*'}".encode()).hexdigest()[:16]
        base = base_dir or Path("var") / "legacy_split"
        self.checkpoint = Checkpoint(Path(checkpoint) if checkpoint else base / f"{identity}.json", identity)
        self.db: LegacyDB | None = None
        self.planned_usernames: set[str] = set()  # a dry run's staff, as if created
        self.log: AnomalyLog | None = None

    # --- the run ---------------------------------------------------------------------------------------

    def run(self) -> SplitResult:
        self.db = LegacyDB(self.source, read_only=True)
        try:
            keep = 0
            if self.dry_run:
                anomaly_path = Path(tempfile.mkdtemp(prefix="legacy-dry-run-")) / "anomalies.jsonl"
            else:
                anomaly_path = self.checkpoint.path.with_suffix(".anomalies.jsonl")
                if self.resume and self.checkpoint.load():
                    keep = self.checkpoint.state["anomaly_bytes"]
                    self.err.write(f"[split] resuming from {self.checkpoint.path}\n")
                elif self.resume:
                    self.err.write(f"[split] no checkpoint at {self.checkpoint.path}: starting from the beginning\n")
            self.log = AnomalyLog(anomaly_path, keep_bytes=keep)
            restaurants = self._restaurants()
            total_lines = sum(self._count_lines(r[0]) for r in restaurants)
            progress = Progress(total_lines, self.err)
            progress.done = progress.started_with = sum(
                self.checkpoint.tenant(r[1])["lines_done"] for r in restaurants) if self.resume else 0
            runs = []
            for row in restaurants:
                run = self._restaurant(row)
                if run is None:
                    continue
                runs.append(run)
                self._split_restaurant(run, progress)
            progress.advance("all", 0, 0, force=True)
            return self._verify(runs, restaurants)
        finally:
            if self.log is not None:
                self.log.close()
            self.db.close()

    def _restaurants(self) -> list[tuple]:
        sql = "SELECT id, slug, name, currency, timezone, languages FROM restaurants"
        params: list[Any] = []
        if self.tenant_filter:
            sql += " WHERE slug = %s"
            params.append(self.tenant_filter)
        rows = self.db.all(sql + " ORDER BY id", params)
        if self.tenant_filter and not rows:
            raise SplitError(f"The legacy database has no restaurant {self.tenant_filter!r}.")
        return rows

    def _count_lines(self, restaurant_id: int) -> int:
        return self.db.all("SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id "
                           "WHERE o.restaurant_id = %s", [restaurant_id])[0][0]

    def _restaurant(self, row: tuple) -> TenantRun | None:
        rid, slug, name, currency, zone_name, languages = row
        state = self.checkpoint.tenant(slug)
        self.log.muted = state["phase"] != "start"
        try:
            zone = ZoneInfo(str(zone_name))
        except (ZoneInfoNotFoundError, ValueError):
            zone = None
        locales = tuple(x.strip() for x in str(languages or "en").split(",") if x.strip()) or ("en",)
        if currency not in CURRENCY_EXPONENTS or zone is None:
            self.log.add(tenant=slug, entity="restaurant", legacy_id=rid, kind="unusable_restaurant",
                         detail=f"currency {currency!r}, time zone {zone_name!r}",
                         action="restaurant not imported, nor anything of it")
            return None
        run = TenantRun(slug=slug, legacy_id=rid, name=name, currency=currency,
                        exponent=CURRENCY_EXPONENTS[currency], zone=zone, locales=locales)
        if self.dry_run:
            try:
                run.tenant_id = accounts.get_tenant_by_slug(slug).id
            except accounts.TenantNotFound:
                run.tenant_id = None
            return run
        try:
            info, _created = accounts.import_tenant(slug=slug, name=name, currency=currency, locales=list(locales),
                                                    timezone_name=zone.key)
        except accounts.InvalidImport as exc:
            self.log.add(tenant=slug, entity="restaurant", legacy_id=rid, kind="rejected_restaurant",
                         detail=str(exc.extra.get("errors")), action="restaurant not imported, nor anything of it")
            return None
        if info.currency != currency:
            raise SplitError(f"Restaurant {slug!r} exists here in {info.currency}, the legacy one sells in "
                             f"{currency}: refusing to mix them.")
        run.tenant_id = info.id
        run.locales = tuple(info.locales)
        return run

    def _split_restaurant(self, run: TenantRun, progress: Progress) -> None:
        state = self.checkpoint.tenant(run.slug)
        self._staff(run)
        self._categories_and_products(run)
        if state["phase"] == "start":
            state["phase"] = "orders"
            self._save()
        self.log.muted = False
        if state["phase"] == "done":
            return
        after = state["after_order_id"] if self.resume else 0
        while True:
            page = self.db.all("SELECT id, user_id, table_no, status, total, currency, created_at FROM orders "
                               "WHERE restaurant_id = %s AND id > %s ORDER BY id LIMIT %s",
                               [run.legacy_id, after, self.batch])
            if not page:
                break
            lines_done = self._orders(run, page)
            after = page[-1][0]
            state["after_order_id"] = after
            state["lines_done"] += lines_done
            self._save()
            progress.advance(run.slug, lines_done, len(page))
            if self.after_batch is not None:
                self.after_batch(run.slug, after)
        state["phase"] = "done"
        self._save()
        progress.advance(run.slug, 0, 0, force=True)

    def _save(self) -> None:
        if not self.dry_run:
            self.checkpoint.save(self.log.sync())

    # --- staff -------------------------------------------------------------------------------------------

    def _staff(self, run: TenantRun) -> None:
        rows = self.db.all("SELECT id, username, email, full_name, role FROM users WHERE restaurant_id = %s "
                           "ORDER BY id", [run.legacy_id])
        kept: dict[str, dict] = {}
        by_email: dict[str, str] = {}
        for uid, login, email, full_name, role in rows:
            name = tf.username(login)
            email_key = (email or "").strip().lower()
            same = name if name in kept else by_email.get(email_key) if email_key else None
            if same is not None:
                run.staff[uid] = same
                self.log.add(tenant=run.slug, entity="user", legacy_id=uid, kind="duplicate_user",
                             detail=f"{login!r} <{email or ''}> is user {kept[same]['legacy_id']} again",
                             action=f"merged into {same!r}; their orders are attributed to it")
                run.counts["staff"]["merged"] += 1
                continue
            mapped = tf.ROLE_MAP.get(str(role or "").strip().lower())
            if mapped is None:
                mapped = tf.FALLBACK_ROLE
                self.log.add(tenant=run.slug, entity="user", legacy_id=uid, kind="unknown_role",
                             detail=f"role {role!r}", action=f"imported as {mapped} (the least privileged role)")
            parts = str(full_name or "").split(" ", 1)
            kept[name] = {"username": name, "role": mapped, "email": (email or "").strip()[:254],
                          "first_name": parts[0][:150], "last_name": (parts[1] if len(parts) > 1 else "")[:150],
                          "legacy_id": uid}
            if email_key:
                by_email[email_key] = name
            run.staff[uid] = name
        run.counts["staff"]["legacy"] = len(rows)
        members = [{k: v for k, v in m.items() if k != "legacy_id"} for m in kept.values()]
        if self.dry_run or not members:
            owners = accounts.get_username_owners(usernames=[m["username"] for m in members])
            taken = [m["username"] for m in members if m["username"] in self.planned_usernames
                     or (m["username"] in owners and (run.tenant_id is None or owners[m["username"]] != run.tenant_id))]
            for name in taken:
                self.log.add(tenant=run.slug, entity="user", legacy_id=kept[name]["legacy_id"], kind="username_taken",
                             detail=f"{name!r} belongs to another restaurant here",
                             action=f"imported as {f'{name}.{run.slug}'[:150]!r}")
            self.planned_usernames.update(m["username"] for m in members if m["username"] not in taken)
            run.counts["staff"]["imported"] = len(members)
            return
        result = accounts.import_staff(tenant_id=run.tenant_id, staff=members)
        renamed = {}
        if result.taken:
            for member in members:
                if member["username"] in result.taken:
                    new_name = f"{member['username']}.{run.slug}"[:150]
                    renamed[member["username"]] = new_name
                    legacy_id = kept[member["username"]]["legacy_id"]
                    self.log.add(tenant=run.slug, entity="user", legacy_id=legacy_id, kind="username_taken",
                                 detail=f"{member['username']!r} belongs to another restaurant here",
                                 action=f"imported as {new_name!r}")
                    member["username"] = new_name
            again = accounts.import_staff(tenant_id=run.tenant_id,
                                          staff=[m for m in members if m["username"] in renamed.values()])
            if again.taken:
                raise SplitError(f"Usernames {', '.join(again.taken)} are taken too; rename them in the source.")
            run.staff = {uid: renamed.get(name, name) for uid, name in run.staff.items()}
        run.counts["staff"]["imported"] = len(result.created) + len(result.existing) + len(renamed)

    # --- catalog -----------------------------------------------------------------------------------------

    def _price(self, run: TenantRun, value: Any, entity: str, legacy_id: int) -> int | None:
        minor, exact = tf.to_minor(value, run.exponent)
        if minor is not None and not exact:
            self.log.add(tenant=run.slug, entity=entity, legacy_id=legacy_id, kind="fractional_amount",
                         detail=f"{value} has more decimals than {run.currency} allows",
                         action=f"rounded half to even to {minor} minor units")
        return minor

    def _categories_and_products(self, run: TenantRun) -> None:
        categories = self.db.all("SELECT id, name_en, name_my, position FROM categories WHERE restaurant_id = %s "
                                 "ORDER BY id", [run.legacy_id])
        docs, category_names = [], {}
        for cid, en, my, position in categories:
            names, filled = tf.names(en, my, run.locales)
            if filled:
                self.log.add(tenant=run.slug, entity="category", legacy_id=cid, kind="missing_name",
                             detail=f"no name in {', '.join(filled)}", action="the English name is used there")
            docs.append({"id": category_key(cid), "names": names, "position": int(position or 0)})
            category_names[cid] = names
        category_ids = {cid: category_key(cid) for cid, *_ in categories}
        if docs and not self.dry_run:
            for start in range(0, len(docs), self.batch):
                result = inventory.import_categories(tenant_id=run.tenant_id, categories=docs[start:start + self.batch])
                for cid in list(category_ids):
                    category_ids[cid] = result.ids.get(category_key(cid), category_ids[cid])
        run.counts["categories"].update(legacy=len(categories), imported=len(docs))

        variants: dict[int, list[tuple]] = defaultdict(list)
        for vid, pid, en, my, price, stock in self.db.all(
                "SELECT v.id, v.product_id, v.name_en, v.name_my, v.price, v.stock_count FROM product_variants v "
                "JOIN products p ON p.id = v.product_id WHERE p.restaurant_id = %s ORDER BY v.id", [run.legacy_id]):
            variants[pid].append((vid, en, my, price, stock))
        renames: dict[int, list[tuple]] = defaultdict(list)
        for pid, old_en, old_my, renamed_at in self.db.all(
                "SELECT r.product_id, r.old_name_en, r.old_name_my, r.renamed_at FROM product_renames r "
                "JOIN products p ON p.id = r.product_id WHERE p.restaurant_id = %s ORDER BY r.renamed_at",
                [run.legacy_id]):
            moment, _ = tf.parse_time(renamed_at, run.zone)
            if moment is not None:
                renames[pid].append((moment, tf.names(old_en, old_my, run.locales)[0]))
        products = self.db.all("SELECT id, category_id, name_en, name_my, current_price, stock_count, is_active "
                               "FROM products WHERE restaurant_id = %s ORDER BY id", [run.legacy_id])
        documents = []
        for pid, cid, en, my, price, stock, active in products:
            names, filled = tf.names(en, my, run.locales)
            if filled:
                self.log.add(tenant=run.slug, entity="product", legacy_id=pid, kind="missing_name",
                             detail=f"no name in {', '.join(filled)}", action="the English name is used there")
            minor = self._price(run, price, "product", pid)
            if minor is None or minor < 0:
                self.log.add(tenant=run.slug, entity="product", legacy_id=pid, kind="bad_price",
                             detail=f"current_price {price!r}", action="priced 0 in the catalog; set its price")
                minor = 0
            doc: dict[str, Any] = {"id": product_key(pid), "names": names, "price": minor,
                                   "is_active": bool(active), "category_id": category_ids.get(cid)}
            if cid is not None and cid not in category_ids:
                self.log.add(tenant=run.slug, entity="product", legacy_id=pid, kind="unknown_category",
                             detail=f"category {cid} does not exist", action="imported without a category")
            snapshot = {"names": names, "price": minor, "category_id": category_ids.get(cid) or "",
                        "category_names": category_names.get(cid, {}), "variants": {}, "renames": renames.get(pid, [])}
            if renames.get(pid):
                self.log.add(tenant=run.slug, entity="product", legacy_id=pid, kind="renamed_after_sale",
                             detail=f"renamed at {renames[pid][-1][0].isoformat()}",
                             action="lines sold before keep the name at order time (from product_renames)")
            stock_doc: Any = None
            own_variants = variants.get(pid, [])
            if own_variants:
                doc["variants"], stock_doc = [], {}
                for vid, v_en, v_my, v_price, v_stock in own_variants:
                    key = f"v{vid}"
                    v_names, _ = tf.names(v_en, v_my, run.locales)
                    v_minor = self._price(run, v_price, "variant", vid) if v_price is not None else minor
                    v_minor = v_minor if v_minor is not None and v_minor >= 0 else minor
                    doc["variants"].append({"key": key, "names": v_names, "price": v_minor})
                    snapshot["variants"][vid] = (key, v_names, v_minor)
                    run.catalog.variants[vid] = (pid, key, v_names, v_minor)
                    stock_doc[key] = self._stock(run, "variant", vid, v_stock)
                if any(v is None for v in stock_doc.values()):
                    doc["track_stock"], stock_doc = False, None
            else:
                stock_doc = self._stock(run, "product", pid, stock)
                if stock_doc is None:
                    doc["track_stock"] = False
            if stock_doc is not None:
                doc["opening_stock"] = stock_doc
            documents.append(doc)
            run.catalog.products[pid] = snapshot
        run.counts["products"].update(legacy=len(products), imported=len(products))
        if documents and not self.dry_run:
            for start in range(0, len(documents), self.batch):
                chunk = documents[start:start + self.batch]
                self._import_products(run, chunk)

    def _stock(self, run: TenantRun, entity: str, legacy_id: int, value: Any) -> int | None:
        if value is None:
            return None
        if not is_integer(value) or value < 0:
            self.log.add(tenant=run.slug, entity=entity, legacy_id=legacy_id, kind="negative_stock",
                         detail=f"stock_count {value!r}", action="opening stock 0; count it")
            return 0
        return min(value, 1_000_000)

    def _import_products(self, run: TenantRun, chunk: list[dict]) -> None:
        try:
            result = inventory.import_products(tenant_id=run.tenant_id, products=chunk, actor=ACTOR,
                                               reason="opening stock from the legacy database")
        except (inventory.InvalidProduct, inventory.CategoryNotFound):
            if len(chunk) == 1:
                legacy_id = int(chunk[0]["id"].rsplit("-", 1)[1])
                self.log.add(tenant=run.slug, entity="product", legacy_id=legacy_id, kind="rejected_product",
                             detail=str(sys.exc_info()[1]), action="not in the catalog; its lines keep their snapshot")
                run.counts["products"]["imported"] -= 1
                return
            middle = len(chunk) // 2  # find the offending documents, import the rest
            self._import_products(run, chunk[:middle])
            self._import_products(run, chunk[middle:])
            return
        for legacy_pid, snapshot in run.catalog.products.items():
            actual = result.ids.get(product_key(legacy_pid))
            if actual is not None:
                snapshot["id"] = actual

    # --- orders ------------------------------------------------------------------------------------------

    def _orders(self, run: TenantRun, page: list[tuple]) -> int:
        low, high = page[0][0], page[-1][0]
        lines: dict[int, list[tuple]] = defaultdict(list)
        line_count = 0
        for row in self.db.all(
                "SELECT l.order_id, l.id, l.product_id, l.variant_id, l.quantity, l.price_at_order_time "
                "FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.restaurant_id = %s "
                "AND o.id BETWEEN %s AND %s ORDER BY l.order_id, l.id", [run.legacy_id, low, high]):
            lines[row[0]].append(row[1:])
            line_count += 1
        payments: dict[int, list[tuple]] = defaultdict(list)
        for row in self.db.all(
                "SELECT p.order_id, p.id, p.method, p.amount, p.currency, p.tendered, p.paid_at FROM payments p "
                "JOIN orders o ON o.id = p.order_id WHERE o.restaurant_id = %s AND o.id BETWEEN %s AND %s "
                "ORDER BY p.order_id, p.id", [run.legacy_id, low, high]):
            payments[row[0]].append(row[1:])
        refunds: dict[int, list[tuple]] = defaultdict(list)
        for row in self.db.all(
                "SELECT r.payment_id, r.id, r.amount, r.reason, r.refunded_at FROM refunds r "
                "JOIN payments p ON p.id = r.payment_id JOIN orders o ON o.id = p.order_id "
                "WHERE o.restaurant_id = %s AND o.id BETWEEN %s AND %s ORDER BY r.id", [run.legacy_id, low, high]):
            refunds[row[0]].append(row[1:])
        order_docs, payment_docs = [], []
        for row in page:
            built = self._order(run, row, lines.get(row[0], []), payments.get(row[0], []), refunds)
            if built is not None:
                order_docs.append(built[0])
                payment_docs.extend(built[1])
        if not self.dry_run:
            if payment_docs:
                try:
                    payment.import_payments(tenant_id=run.tenant_id, payments=payment_docs, source=SOURCE)
                except payment.InvalidImport as exc:
                    raise SplitError(f"payment refused a batch of {run.slug} (orders {low}-{high}): "
                                     f"{exc.extra.get('errors')}") from exc
            if order_docs:
                try:
                    pos_core.import_orders(tenant_id=run.tenant_id, orders=order_docs, source=SOURCE)
                except pos_core.InvalidImport as exc:
                    raise SplitError(f"pos_core refused a batch of {run.slug} (orders {low}-{high}): "
                                     f"{exc.extra.get('errors')}") from exc
        return line_count

    def _excluded_order(self, run: TenantRun, oid: int, total: int, day: str, kind: str, detail: str,
                        lines: list[tuple], payments: list[tuple], refunds: dict[int, list[tuple]],
                        placed: Any) -> None:
        excluded = {"orders": 1, "total": total, "lines": len(lines)}
        self.log.add(tenant=run.slug, entity="order", legacy_id=oid, kind=kind, detail=detail,
                     action="order not imported, nor its lines, payments and refunds", day=day, excluded=excluded)
        for pid, _method, amount, _currency, _tendered, paid_at in payments:
            paid, _ = tf.parse_time(paid_at, run.zone)
            paid = paid or placed
            self.log.add(tenant=run.slug, entity="payment", legacy_id=pid, kind="order_not_imported",
                         detail=f"payment of order {oid}", action="not imported with its order",
                         day=tf.local_day(paid, run.zone),
                         excluded={"payments": 1, "captured": tf.to_minor(amount, run.exponent)[0] or 0})
            for rid, r_amount, _reason, refunded_at in refunds.get(pid, []):
                back, _ = tf.parse_time(refunded_at, run.zone)
                self.log.add(tenant=run.slug, entity="refund", legacy_id=rid, kind="order_not_imported",
                             detail=f"refund of payment {pid}", action="not imported with its order",
                             day=tf.local_day(back or paid, run.zone),
                             excluded={"refunds": 1, "refunded": tf.to_minor(r_amount, run.exponent)[0] or 0})

    def _order(self, run: TenantRun, row: tuple, lines: list[tuple], payments: list[tuple],
               refunds: dict[int, list[tuple]]) -> tuple[dict, list[dict]] | None:
        oid, user_id, table_no, status, total, currency, created_at = row
        log = self.log
        placed, own_offset = tf.parse_time(created_at, run.zone)
        day = tf.local_day(placed, run.zone)
        total_minor = tf.to_minor(total, run.exponent)[0]
        if placed is None:
            self._excluded_order(run, oid, total_minor or 0, day, "unreadable_time", f"created_at {created_at!r}",
                                 lines, payments, refunds, None)
            return None
        if currency != run.currency:
            kind = "unknown_currency" if currency not in CURRENCY_EXPONENTS else "other_currency"
            self._excluded_order(run, oid, total_minor or 0, day, kind,
                                 f"currency {currency!r}; the restaurant sells in {run.currency}", lines, payments,
                                 refunds, placed)
            return None
        if total_minor is None or total_minor < 0:
            self._excluded_order(run, oid, total_minor or 0, day, "bad_total", f"total {total!r}", lines, payments,
                                 refunds, placed)
            return None
        total_minor = self._price(run, total, "order", oid)
        if own_offset and placed.utcoffset().total_seconds() != placed.astimezone(run.zone).utcoffset().total_seconds():
            log.add(tenant=run.slug, entity="order", legacy_id=oid, kind="foreign_time_zone",
                    detail=f"created_at {created_at!r} is not in {run.zone.key} like the other times",
                    action=f"read with its own offset: {placed.astimezone(run.zone).isoformat()}")
        order_lines, unpriced = [], []
        for lid, pid, vid, quantity, price in lines:
            if not is_integer(quantity) or quantity <= 0 or quantity > 1_000_000:
                log.add(tenant=run.slug, entity="order_line", legacy_id=lid, kind="bad_quantity",
                        detail=f"quantity {quantity!r} on order {oid}", day=day, excluded={"lines": 1},
                        action="line not imported; the order keeps its legacy total")
                continue
            line = self._line(run, oid, lid, pid, vid, quantity, price, placed)
            if line["unit_price"] is None:
                unpriced.append(line)
            order_lines.append(line)
        if unpriced:
            known = sum(line["unit_price"] * line["quantity"] for line in order_lines if line["unit_price"] is not None)
            rest = total_minor - known
            only = unpriced[0] if len(unpriced) == 1 else None
            for line in unpriced:
                if only is not None and rest >= 0 and rest % line["quantity"] == 0:
                    line["unit_price"] = rest // line["quantity"]
                    line["flags"].append("price:from_order_total")
                    action = f"priced {line['unit_price']} from the order total less its other lines"
                else:
                    line["unit_price"] = 0
                    line["flags"].append("price:unknown")
                    action = "priced 0: no price at order time, product deleted, order total does not tell"
                log.add(tenant=run.slug, entity="order_line", legacy_id=line["snapshot"]["legacy"]["line_id"],
                        kind="missing_price", detail=f"no price_at_order_time and no product on order {oid}",
                        action=action)
        lines_total = sum(line["unit_price"] * line["quantity"] for line in order_lines)
        if lines_total != total_minor:
            log.add(tenant=run.slug, entity="order", legacy_id=oid, kind="lines_differ_from_total",
                    detail=f"lines add up to {lines_total}, the order says {total_minor}",
                    action="kept the order total; it is shared over the lines in proportion")
        payment_docs, order_refunds, methods = [], [], []
        paid_total = 0
        for pay_id, raw_method, amount, pay_currency, tendered, paid_at in payments:
            paid, _ = tf.parse_time(paid_at, run.zone)
            if paid is None:
                paid = placed
                log.add(tenant=run.slug, entity="payment", legacy_id=pay_id, kind="unreadable_time",
                        detail=f"paid_at {paid_at!r}", action="dated at its order's time")
            pay_day = tf.local_day(paid, run.zone)
            minor = tf.to_minor(amount, run.exponent)[0]
            method = tf.method(raw_method)
            problem = ("unknown_currency" if pay_currency != run.currency else "unknown_method" if method is None
                       else "bad_amount" if minor is None or minor <= 0 else None)
            if problem is not None:
                log.add(tenant=run.slug, entity="payment", legacy_id=pay_id, kind=problem,
                        detail=f"{raw_method!r} {amount!r} {pay_currency!r} on order {oid}",
                        action="payment not imported, nor its refunds", day=pay_day,
                        excluded={"payments": 1, "captured": minor or 0})
                for rid, r_amount, _reason, refunded_at in refunds.get(pay_id, []):
                    back, _ = tf.parse_time(refunded_at, run.zone)
                    log.add(tenant=run.slug, entity="refund", legacy_id=rid, kind="payment_not_imported",
                            detail=f"refund of payment {pay_id}", action="not imported with its payment",
                            day=tf.local_day(back or paid, run.zone),
                            excluded={"refunds": 1, "refunded": tf.to_minor(r_amount, run.exponent)[0] or 0})
                continue
            minor = self._price(run, amount, "payment", pay_id)
            payment_refunds, refunded = [], 0
            for rid, r_amount, reason, refunded_at in refunds.get(pay_id, []):
                back, _ = tf.parse_time(refunded_at, run.zone)
                if back is None:
                    back = paid
                    log.add(tenant=run.slug, entity="refund", legacy_id=rid, kind="unreadable_time",
                            detail=f"refunded_at {refunded_at!r}", action="dated at its payment's time")
                r_minor = tf.to_minor(r_amount, run.exponent)[0]
                if r_minor is None or r_minor <= 0 or refunded + r_minor > minor:
                    log.add(tenant=run.slug, entity="refund", legacy_id=rid, kind="bad_refund",
                            detail=f"{r_amount!r} on payment {pay_id} of {amount}", action="refund not imported",
                            day=tf.local_day(back, run.zone), excluded={"refunds": 1, "refunded": r_minor or 0})
                    continue
                refunded += r_minor
                refund = {"key": refund_key(rid), "amount": r_minor, "reason": reason or "legacy refund",
                          "created_at": back, "actor": ACTOR}
                payment_refunds.append(refund)
                if run.tenant_id is not None:
                    refund_id = payment.imported_refund_id(tenant_id=run.tenant_id, key=refund_key(rid))
                else:
                    refund_id = ""
                order_refunds.append({**refund, "payment_refund_id": refund_id})
            tendered_minor = tf.to_minor(tendered, run.exponent)[0] if tendered is not None else None
            payment_docs.append({
                "key": payment_key(pay_id), "method": method, "amount": minor, "currency": run.currency,
                "captured_at": paid, "tendered": tendered_minor if method == "cash" and tendered_minor and
                tendered_minor >= minor else None, "refunds": payment_refunds,
                "reference": pos_core.imported_order_id(tenant_id=run.tenant_id, key=order_key(oid))
                if run.tenant_id is not None else ""})
            methods.append(method)
            paid_total += minor
            planned = run.planned[pay_day]
            planned["payments"] += 1
            planned["captured"] += minor
            for refund in payment_refunds:
                back_day = run.planned[tf.local_day(refund["created_at"], run.zone)]
                back_day["refunds"] += 1
                back_day["refunded"] += refund["amount"]
        cancelled = str(status or "").lower() in ("void", "cancelled", "canceled")
        if not cancelled and paid_total != total_minor:
            kind = "unpaid" if not payment_docs else "payments_differ"
            log.add(tenant=run.slug, entity="order", legacy_id=oid, kind=kind,
                    detail=f"payments {paid_total}, order total {total_minor}",
                    action="imported as recorded; reconcile reports the difference")
        order_side = 0
        kept_refunds = []
        for refund in order_refunds:
            if order_side + refund["amount"] > total_minor:
                log.add(tenant=run.slug, entity="refund", legacy_id=refund["key"].split(":r")[1], kind="refund_over_order",
                        detail=f"refunds exceed order {oid}'s total {total_minor}",
                        action="recorded on the payment only, not on the order")
                continue
            order_side += refund["amount"]
            kept_refunds.append(refund)
        payment_id = ""
        if payment_docs and run.tenant_id is not None:
            payment_id = payment.imported_payment_id(tenant_id=run.tenant_id, key=payment_docs[0]["key"])
        note = f"Legacy order {oid}"
        if user_id in run.staff:
            note += f", by {run.staff[user_id]}"
        order = {"key": order_key(oid), "number": f"L{oid}"[:20], "currency": run.currency, "total": total_minor,
                 "placed_at": placed, "status": "cancelled" if cancelled else "completed",
                 "payment_id": payment_id, "payment_method": (methods[0] if len(set(methods)) == 1 else
                                                              "mixed" if methods else ""),
                 "table_code": str(table_no or "")[:64], "note": note, "lines": order_lines, "refunds": kept_refunds}
        planned = run.planned[day]
        planned["orders"] += 1
        planned["total"] += total_minor
        planned["lines"] += len(order_lines)
        return order, payment_docs

    def _line(self, run: TenantRun, oid: int, lid: int, pid: int, vid: int | None, quantity: int, price: Any,
              placed: Any) -> dict[str, Any]:
        flags: list[str] = []
        product = run.catalog.products.get(pid)
        snapshot = {"legacy": {"line_id": lid, "product_id": pid, "variant_id": vid,
                               "price_at_order_time": None if price is None else str(price)}}
        variant_key, variant_names, variant_price = "", {}, None
        if product is None:
            flags.append("product:deleted")
            names = dict.fromkeys(run.locales, f"Product {pid} (deleted)")
            self.log.add(tenant=run.slug, entity="order_line", legacy_id=lid, kind="deleted_product",
                         detail=f"product {pid} no longer exists (order {oid})",
                         action="snapshot kept under its legacy id with a placeholder name, flagged product:deleted")
            product_id, category_id, category_names = product_key(pid), "", {}
        else:
            names = product["names"]
            for renamed_at, old_names in product["renames"]:
                if placed < renamed_at:
                    names = old_names
                    flags.append("name:before_rename")
                    break
            product_id = product.get("id", product_key(pid))
            category_id, category_names = product["category_id"], product["category_names"]
            if vid is not None:
                known = product["variants"].get(vid)
                if known is None:
                    self.log.add(tenant=run.slug, entity="order_line", legacy_id=lid, kind="unknown_variant",
                                 detail=f"variant {vid} is not a variant of product {pid}",
                                 action="snapshot at product level")
                    flags.append("variant:unknown")
                else:
                    variant_key, variant_names, variant_price = known
        unit = None
        if price is not None:
            unit = self._price(run, price, "order_line", lid)
            if unit is not None and unit < 0:
                unit = None
        if unit is None and product is not None:
            unit = variant_price if variant_price is not None else product["price"]
            flags.append("price:current_price")
            self.log.add(tenant=run.slug, entity="order_line", legacy_id=lid, kind="missing_price",
                         detail=f"price_at_order_time missing on order {oid}",
                         action=f"priced {unit} at the product's current price, flagged price:current_price")
        return {"product_id": product_id, "variant": variant_key or None, "product_names": names,
                "variant_names": variant_names, "category_id": category_id or None,
                "category_names": category_names, "unit_price": unit, "quantity": quantity, "flags": flags,
                "snapshot": snapshot}

    # --- verification ------------------------------------------------------------------------------------

    def _before(self, run: TenantRun) -> dict[str, dict[str, int]]:
        """The legacy figures per local day, read again from the source (streamed)."""
        days: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
        for _oid, total, created_at in self.db.stream(
                "SELECT id, total, created_at FROM orders WHERE restaurant_id = %s ORDER BY id", [run.legacy_id]):
            placed, _ = tf.parse_time(created_at, run.zone)
            day = days[tf.local_day(placed, run.zone)]
            day["orders"] += 1
            day["total"] += tf.to_minor(total, run.exponent)[0] or 0
        for day_key, count in self._line_days(run):
            days[day_key]["lines"] += count
        for _pid, amount, paid_at, created_at in self.db.stream(
                "SELECT p.id, p.amount, p.paid_at, o.created_at FROM payments p JOIN orders o ON o.id = p.order_id "
                "WHERE o.restaurant_id = %s", [run.legacy_id]):
            paid, _ = tf.parse_time(paid_at, run.zone)
            paid = paid or tf.parse_time(created_at, run.zone)[0]
            day = days[tf.local_day(paid, run.zone)]
            day["payments"] += 1
            day["captured"] += tf.to_minor(amount, run.exponent)[0] or 0
        for amount, refunded_at, paid_at, created_at in self.db.stream(
                "SELECT r.amount, r.refunded_at, p.paid_at, o.created_at FROM refunds r "
                "JOIN payments p ON p.id = r.payment_id JOIN orders o ON o.id = p.order_id "
                "WHERE o.restaurant_id = %s", [run.legacy_id]):
            back = (tf.parse_time(refunded_at, run.zone)[0] or tf.parse_time(paid_at, run.zone)[0]
                    or tf.parse_time(created_at, run.zone)[0])
            day = days[tf.local_day(back, run.zone)]
            day["refunds"] += 1
            day["refunded"] += tf.to_minor(amount, run.exponent)[0] or 0
        return days

    def _line_days(self, run: TenantRun) -> Iterable[tuple[str, int]]:
        current, count, day = None, 0, "unknown"
        for oid, created_at in self.db.stream(
                "SELECT o.id, o.created_at FROM order_lines l JOIN orders o ON o.id = l.order_id "
                "WHERE o.restaurant_id = %s ORDER BY o.id", [run.legacy_id]):
            if oid != current:
                if current is not None:
                    yield day, count
                current, count = oid, 0
                day = tf.local_day(tf.parse_time(created_at, run.zone)[0], run.zone)
            count += 1
        if current is not None:
            yield day, count

    def _after(self, run: TenantRun) -> dict[str, dict[str, int]]:
        days: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TOTALS, 0))
        if self.dry_run:
            for day, values in run.planned.items():
                days[day].update(values)
            return days
        for row in pos_core.imported_orders_by_day(tenant_id=run.tenant_id, key_prefix=KEY_PREFIX, tz=run.zone.key):
            days[row.day].update(orders=row.orders, total=row.total, lines=row.items)
        for row in payment.imported_payments_by_day(tenant_id=run.tenant_id, key_prefix=KEY_PREFIX,
                                                    tz=run.zone.key):
            days[row.day].update(payments=row.payments, captured=row.captured, refunds=row.refunds,
                                 refunded=row.refunded)
        return days

    def _verify(self, runs: list[TenantRun], restaurants: list[tuple]) -> SplitResult:
        excluded: dict[str, dict[str, dict[str, int]]] = defaultdict(
            lambda: defaultdict(lambda: dict.fromkeys(TOTALS, 0)))
        anomalies: dict[str, int] = defaultdict(int)
        skipped_tenants = set()
        for record in self.log.records():
            anomalies[record["kind"]] += 1
            if record["entity"] == "restaurant":
                skipped_tenants.add(record["tenant"])
            for name, value in (record.get("excluded") or {}).items():
                excluded[record["tenant"]][record["day"]][name] += value
        lines = [f"Verification report: {redact(self.source)} -> module databases"
                 f"{' (DRY RUN: nothing written; after = what would be written)' if self.dry_run else ''}"]
        ok = True
        for run in runs:
            before, after = self._before(run), self._after(run)
            gone = excluded[run.slug]
            lines.append("")
            lines.append(f"{run.slug}: {run.name} ({run.currency}, {run.zone.key}, tenant "
                         f"{run.tenant_id or 'not created yet'})")
            lines.append(f"  {'entity':<12}{'legacy':>10}{'imported':>10}{'skipped':>9}{'merged':>8}  check")
            entity_rows = [("staff", run.counts["staff"]["legacy"], run.counts["staff"]["imported"], 0,
                            run.counts["staff"]["merged"]),
                           ("categories", run.counts["categories"]["legacy"], run.counts["categories"]["imported"], 0, 0),
                           ("products", run.counts["products"]["legacy"], self._products_here(run), 0, 0)]
            for name, short in (("orders", "orders"), ("lines", "order lines"), ("payments", "payments"),
                                ("refunds", "refunds")):
                entity_rows.append((short, sum(d[name] for d in before.values()), sum(d[name] for d in after.values()),
                                    sum(d[name] for d in gone.values()), 0))
            for name, legacy, imported, skipped, merged in entity_rows:
                good = legacy == imported + skipped + merged
                ok &= good
                lines.append(f"  {name:<12}{legacy:>10,}{imported:>10,}{skipped:>9,}{merged:>8,}  "
                             f"{'ok' if good else 'MISMATCH'}")
            lines.append(f"  per day ({run.zone.key}): before - excluded = after, for order totals and payments")
            lines.append(f"  {'day':<11}{'orders':>8}{'total before':>15}{'excluded':>11}{'after':>15}"
                         f"{'paid before':>15}{'excluded':>11}{'after':>15}{'refunds bef.':>13}{'after':>11}  check")
            for day in sorted(set(before) | set(after) | set(gone)):
                b, a, g = before[day], after[day], gone[day]
                good = all(b[n] - g[n] == a[n] for n in TOTALS)
                ok &= good
                lines.append(f"  {day:<11}{a['orders']:>8,}{b['total']:>15,}{g['total']:>11,}{a['total']:>15,}"
                             f"{b['captured']:>15,}{g['captured']:>11,}{a['captured']:>15,}{b['refunded']:>13,}"
                             f"{a['refunded']:>11,}  {'ok' if good else 'MISMATCH'}")
            totals = {n: (sum(d[n] for d in before.values()), sum(d[n] for d in gone.values()),
                          sum(d[n] for d in after.values())) for n in ("total", "captured", "refunded")}
            lines.append("  all days: " + "; ".join(f"{n} {b:,} - {g:,} = {a:,} {run.currency} minor units"
                                                     for n, (b, g, a) in totals.items()))
        for slug in sorted(skipped_tenants):
            lines.append(f"\n{slug}: not imported (see its anomaly)")
            ok = False
        count = sum(anomalies.values())
        lines.append("")
        lines.append(f"Anomalies: {count:,}" + (" (" + ", ".join(f"{k} {v:,}" for k, v in sorted(anomalies.items()))
                                                 + ")" if count else ""))
        self.out.write("\n".join(lines) + "\n")
        for record in self.log.records():
            self.out.write(f"  {record['tenant']} {record['entity']} {record['legacy_id']}: {record['kind']}: "
                           f"{record['detail']} -> {record['action']}\n")
        verdict = (f"Verification {'PASSED' if ok else 'FAILED'}: {len(runs)} restaurant(s) of "
                   f"{len(restaurants)}, {count:,} anomalies, each listed above with what was done.")
        self.out.write(verdict + "\n")
        return SplitResult(ok=ok, report=verdict)

    def _products_here(self, run: TenantRun) -> int:
        if self.dry_run or run.tenant_id is None:
            return run.counts["products"]["imported"]
        return inventory.list_catalog(tenant_id=run.tenant_id, limit=1).total
