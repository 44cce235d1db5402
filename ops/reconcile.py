"""The cross-module checker: reads every module through its api (in batches, never one call per row) and
reports every place where the modules disagree about money or stock.

Forward, from pos_core's orders:
- each counter order has its payment, captured for exactly the order's grand total, and refunded exactly what the
  order says was refunded, refund by refund (the payment's refund id on the order);
- each table check's tenders (its own and its parts') have their payments, each captured for exactly what the
  tender took (toward the bill + tip) and refunded exactly what the tender gave back, refund by refund; a
  completed check's tenders paid exactly its grand total toward the bill (tips apart); what they gave back is
  what the check and its parts say was refunded; a cancelled check kept no capture, and a tender the check gave
  up (declined, or refunded by the check itself) kept no money;
- each line is refunded no more than it sold, its refunded quantity is what its refunds took back, and
  every unit a refund put back to stock is in inventory's ledger under the refund's key;
- inventory's ledger adds up to its levels, and pos_core's kept stock levels agree with inventory's.
Backward, from the other modules:
- every capture in payment belongs to an order (the order id is the payment's reference: the saga's charge or
  a table check's tender) or is fully refunded;
- every committed sale in inventory's ledger belongs to an order, or was taken back whole, or to a saga still
  running (the saga takes the stock as sold before the charge: it records the order or gives the stock back);
- every active reservation belongs to a saga still running or an open table check (and is within its time to
  live).

`reconcile()` is the function the command, the nightly task and the fault suite call.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.utils import timezone

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core import api as pos_core

logger = logging.getLogger("ops.reconcile")

CAPTURED_STATUSES = ["captured", "partially_refunded", "refunded"]
LIVE_SAGA_STATUSES = ("running", "compensating")
# A reservation may outlive its expiry by one sweep of the expiry task before it is a finding.
TTL_GRACE = timedelta(minutes=2)

# kind -> what it means, for the table and the alerts
KINDS: dict[str, str] = {
    "order_without_payment": "the order's payment does not exist",
    "order_payment_not_captured": "the order's payment is not captured",
    "order_capture_differs": "captured differs from the order's grand total",
    "order_refund_differs": "refunded on the payment differs from refunded on the order",
    "refund_missing_on_order": "a refund of the order's payment is not on the order",
    "refund_missing_on_payment": "a refund on the order is not a succeeded refund of its payment",
    "check_tender_without_payment": "a table check's tender has no payment",
    "check_tender_not_captured": "a table check's captured tender is not captured at payment",
    "check_tender_capture_differs": "captured differs from what the table check's tender took (bill + tip)",
    "check_tender_refund_differs": "refunded on the payment differs from what the table check's tender gave back",
    "check_tenders_differ": "a completed table check's tenders paid other than its grand total (tips apart)",
    "check_refund_differs": "a table check's tenders gave back other than the check and its parts refunded",
    "check_tender_kept": "a tender the table check gave up was captured and not refunded",
    "capture_of_cancelled_check": "a cancelled table check has a capture that is not refunded",
    "line_over_refunded": "a line is refunded beyond what it sold",
    "line_refund_quantity_differs": "a line's refunded quantity differs from its refunds",
    "line_stock_return_differs": "units refunded to stock differ from what inventory took back",
    "ledger_differs": "inventory's ledger does not add up to its level",
    "stock_cache_missing": "pos_core never received a stock level inventory has",
    "stock_cache_behind": "pos_core's stock level is older than inventory's",
    "stock_cache_differs": "pos_core's stock level differs from inventory's at the same sequence",
    "capture_without_order": "a capture belongs to no order and is not fully refunded",
    "sale_without_order": "a committed sale belongs to no order and was not taken back",
    "reservation_without_running_saga": "an active reservation belongs to no running saga or open table check",
    "reservation_past_ttl": "an active reservation outlived its time to live",
}


@dataclasses.dataclass(frozen=True)
class Mismatch:
    kind: str
    tenant_id: str
    tenant_slug: str
    subject: str  # the id the finding is about (order, payment, reservation, product/variant)
    detail: str
    ids: tuple[tuple[str, str], ...] = ()  # related ids, e.g. (("payment", "..."), ("saga", "..."))

    @property
    def fingerprint(self) -> str:
        return f"{self.kind}:{self.subject}"


@dataclasses.dataclass
class ReconcileReport:
    day: date | None
    tenants: int = 0
    orders: int = 0
    payments: int = 0
    sales: int = 0
    reservations: int = 0
    stock_items: int = 0
    mismatches: list[Mismatch] = dataclasses.field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not self.mismatches

    def by_kind(self) -> dict[str, int]:
        counts: dict[str, int] = defaultdict(int)
        for mismatch in self.mismatches:
            counts[mismatch.kind] += 1
        return dict(counts)

    def table(self) -> str:
        """The mismatches as a plain-text table (kind, restaurant, subject, related ids, detail)."""
        header = ("KIND", "RESTAURANT", "SUBJECT", "IDS", "DETAIL")
        rows = [(m.kind, m.tenant_slug, m.subject, " ".join(f"{k}={v}" for k, v in m.ids), m.detail)
                for m in self.mismatches]
        widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
        lines = ["  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)).rstrip()
                 for row in [header, *rows]]
        return "\n".join(lines)

    def summary(self) -> str:
        scope = f"day {self.day.isoformat()}" if self.day else "all days"
        return (f"reconcile ({scope}): {self.tenants} restaurant(s), {self.orders} order(s), {self.payments} "
                f"capture(s), {self.sales} sale row(s), {self.reservations} active reservation(s), "
                f"{self.stock_items} stock item(s): "
                + ("clean" if self.clean else f"{len(self.mismatches)} mismatch(es) "
                   + ", ".join(f"{k}={v}" for k, v in sorted(self.by_kind().items()))))


def _window(day: date | None, tz: str) -> tuple[datetime | None, datetime | None]:
    if day is None:
        return None, None
    zone = zoneinfo.ZoneInfo(tz)
    start = datetime.combine(day, time.min, tzinfo=zone)
    return start, start + timedelta(days=1)


def _item_key(product_id: str, variant: str | None) -> str:
    return f"{product_id}/{variant}" if variant else product_id


def reconcile(*, tenant_id: uuid.UUID | str | None = None, day: date | None = None,
              progress=None) -> ReconcileReport:
    """Check one restaurant (or every one) and return the report. `day` limits the order, capture and sale
    checks to that day in the restaurant's time zone; stock levels, the ledger and active reservations are
    always checked as they are now. `progress(text)` is called once per restaurant."""
    tenants = [accounts.get_tenant(tenant_id)] if tenant_id is not None else accounts.list_tenants()
    report = ReconcileReport(day=day)
    for tenant in tenants:
        checker = _TenantCheck(tenant, day, report)
        checker.run()
        report.tenants += 1
        if progress is not None:
            progress(f"{tenant.slug}: {checker.found} mismatch(es)")
    return report


class _TenantCheck:
    def __init__(self, tenant, day: date | None, report: ReconcileReport) -> None:
        self.tenant = tenant
        self.tid = tenant.id
        self.start, self.end = _window(day, tenant.timezone)
        self.report = report
        self.found = 0

    def add(self, kind: str, subject: str, detail: str, **ids: str) -> None:
        self.found += 1
        self.report.mismatches.append(Mismatch(
            kind=kind, tenant_id=str(self.tid), tenant_slug=self.tenant.slug, subject=str(subject), detail=detail,
            ids=tuple((k, str(v)) for k, v in ids.items() if v)))

    def run(self) -> None:
        orders = pos_core.audit_orders(tenant_id=self.tid, placed_from=self.start, placed_to=self.end)
        self.report.orders += len(orders)
        self.orders_against_payments(orders)
        self.checks_against_tenders(orders)
        self.refunded_stock(orders)
        self.captures_against_orders(orders)
        self.sales_against_orders()
        self.active_reservations()
        self.ledger_and_levels()

    # --- forward: orders --------------------------------------------------------------------------

    def orders_against_payments(self, orders: list) -> None:
        # A table check is paid by its tenders (tips on top): checks_against_tenders.
        orders = [order for order in orders if order.service == "counter"]
        payment_ids = [order.payment_id for order in orders if order.payment_id]
        payments = payment.get_payments(tenant_id=self.tid, payment_ids=payment_ids)
        refunds = payment.get_refunds_of_payments(tenant_id=self.tid, payment_ids=list(payments))
        for order in orders:
            info = payments.get(order.payment_id)
            if info is None:
                self.add("order_without_payment", order.id, f"order {order.number}: no payment {order.payment_id!r}",
                         payment=order.payment_id, saga=order.saga_id)
                continue
            if info.status not in CAPTURED_STATUSES:
                self.add("order_payment_not_captured", order.id, f"order {order.number}: payment is {info.status}",
                         payment=info.id)
                continue
            if info.captured != order.grand_total:
                self.add("order_capture_differs", order.id, f"order {order.number}: grand total "
                         f"{order.grand_total}, captured {info.captured}", payment=info.id)
            if info.refunded != order.refunded:
                self.add("order_refund_differs", order.id, f"order {order.number}: refunded {order.refunded} on the "
                         f"order, {info.refunded} on the payment", payment=info.id)
            succeeded = {r.id: r for r in refunds.get(info.id, []) if r.status == "succeeded"}
            on_order = {r.payment_refund_id: r for r in order.refunds if r.status == "succeeded"}
            for refund_id, refund in succeeded.items():
                if refund_id not in on_order:
                    self.add("refund_missing_on_order", refund_id, f"order {order.number}: payment refund of "
                             f"{refund.amount} is not on the order", order=order.id, payment=info.id)
            for refund_id, refund in on_order.items():
                if refund_id not in succeeded:
                    self.add("refund_missing_on_payment", refund.id, f"order {order.number}: refund of "
                             f"{refund.amount} has no succeeded payment refund {refund_id!r}", order=order.id,
                             payment=info.id)
                elif succeeded[refund_id].amount != refund.amount:
                    self.add("refund_missing_on_payment", refund.id, f"order {order.number}: refund of "
                             f"{refund.amount} on the order, {succeeded[refund_id].amount} on the payment",
                             order=order.id, payment=info.id)

    def checks_against_tenders(self, orders: list) -> None:
        checks = [order for order in orders if order.service == "table" and not order.parent_id]
        payment_ids = [t.payment_id for check in checks for t in check.tenders if t.payment_id]
        if not payment_ids:
            return
        payments = payment.get_payments(tenant_id=self.tid, payment_ids=payment_ids)
        refunds = payment.get_refunds_of_payments(tenant_id=self.tid, payment_ids=list(payments))
        for check in checks:
            captured = [t for t in check.tenders if t.status == "captured"]
            for tender in captured:
                self._tender_against_payment(check, tender, payments.get(tender.payment_id), refunds)
            for tender in check.tenders:
                info = payments.get(tender.payment_id) if tender.payment_id else None
                if tender.status in ("declined", "refunded") and info is not None \
                        and info.status in CAPTURED_STATUSES and info.refunded != info.captured:
                    self.add("check_tender_kept", tender.id, f"check {check.number}: tender {tender.status} but "
                             f"payment captured {info.captured}, refunded {info.refunded}", order=check.id,
                             payment=info.id)
            if check.status == "cancelled":
                for tender in captured:
                    info = payments.get(tender.payment_id)
                    if info is not None and info.refunded != info.captured:
                        self.add("capture_of_cancelled_check", tender.id, f"check {check.number} is cancelled; "
                                 f"{info.method} capture of {info.captured} ({info.refunded} refunded)",
                                 order=check.id, payment=info.id)
                continue
            currency = check.grand_total.currency
            toward = sum((t.toward_bill.amount for t in captured), 0)
            if check.status != "open" and toward != check.grand_total.amount:
                self.add("check_tenders_differ", check.id, f"check {check.number}: grand total {check.grand_total}, "
                         f"tenders paid {toward} {currency} toward the bill")
            given_back = sum((t.refunded.amount for t in captured), 0)
            on_checks = check.refunded.amount + (check.parts_refunded.amount if check.parts_refunded else 0)
            if given_back != on_checks:
                self.add("check_refund_differs", check.id, f"check {check.number}: refunded {on_checks} {currency} "
                         f"on the check and its parts, its tenders gave back {given_back}")

    def _tender_against_payment(self, check, tender, info, refunds: dict) -> None:
        if info is None:
            self.add("check_tender_without_payment", tender.id, f"check {check.number}: no payment "
                     f"{tender.payment_id!r} for its {tender.method} tender", order=check.id)
            return
        if info.status not in CAPTURED_STATUSES:
            self.add("check_tender_not_captured", tender.id, f"check {check.number}: {tender.method} tender's "
                     f"payment is {info.status}", order=check.id, payment=info.id)
            return
        if info.captured != tender.captured:
            self.add("check_tender_capture_differs", tender.id, f"check {check.number}: tender took "
                     f"{tender.captured}, payment captured {info.captured}", order=check.id, payment=info.id)
        if info.refunded != tender.refunded + tender.tip_refunded:
            self.add("check_tender_refund_differs", tender.id, f"check {check.number}: tender gave back "
                     f"{tender.refunded + tender.tip_refunded}, payment refunded {info.refunded}", order=check.id,
                     payment=info.id)
        succeeded = {r.id: r for r in refunds.get(info.id, []) if r.status == "succeeded"}
        on_check = dict(tender.refunds)
        for refund_id, refund in succeeded.items():
            if refund_id not in on_check:
                self.add("refund_missing_on_order", refund_id, f"check {check.number}: payment refund of "
                         f"{refund.amount} of its {tender.method} tender is not on the check", order=check.id,
                         payment=info.id)
        for refund_id, amount in on_check.items():
            if refund_id not in succeeded or succeeded[refund_id].amount != amount:
                self.add("refund_missing_on_payment", refund_id, f"check {check.number}: refund of {amount} of its "
                         f"{tender.method} tender is not a succeeded payment refund of that amount", order=check.id,
                         payment=info.id)

    def refunded_stock(self, orders: list) -> None:
        expected: dict[str, int] = defaultdict(int)
        owner: dict[str, tuple] = {}
        for order in orders:
            taken_back: dict[str, int] = defaultdict(int)
            for refund in order.refunds:
                if refund.status == "failed":
                    continue
                for line in refund.lines:
                    taken_back[line.item_id] += line.quantity
                    if line.stock_key and refund.status == "succeeded":
                        expected[line.stock_key] += line.quantity
                        owner[line.stock_key] = (order, line.item_id)
            for item in order.items:
                if item.refunded_quantity > item.quantity:
                    self.add("line_over_refunded", item.id, f"order {order.number}: {item.refunded_quantity} of "
                             f"{item.quantity} {_item_key(item.product_id, item.variant)} refunded", order=order.id)
                if item.refunded_quantity != taken_back.get(item.id, 0):
                    self.add("line_refund_quantity_differs", item.id, f"order {order.number}: line says "
                             f"{item.refunded_quantity} refunded, its refunds {taken_back.get(item.id, 0)}",
                             order=order.id)
        if not expected:
            return
        returned: dict[str, int] = defaultdict(int)
        for movement in inventory.list_movements(tenant_id=self.tid, kinds=["return"], references=list(expected)):
            returned[movement.reference] += movement.quantity
        for key, quantity in expected.items():
            if returned.get(key, 0) != quantity:
                order, item_id = owner[key]
                self.add("line_stock_return_differs", item_id, f"order {order.number}: {quantity} refunded to stock, "
                         f"inventory took back {returned.get(key, 0)} (key {key})", order=order.id)

    # --- backward: captures, sales, reservations ---------------------------------------------------

    def captures_against_orders(self, orders: list) -> None:
        captures = payment.list_payments(tenant_id=self.tid, created_from=self.start, created_to=self.end,
                                         statuses=CAPTURED_STATUSES)
        self.report.payments += len(captures)
        known = {order.payment_id for order in orders}
        strays = [info for info in captures if info.id not in known]
        if not strays:
            return
        references = [info.reference for info in strays if info.reference]
        # The order id is the reference of every payment made for it (the saga's, or a table check's tenders).
        elsewhere = {order.id for order in
                     pos_core.audit_orders(tenant_id=self.tid, order_ids=references)} if references else set()
        sagas = {saga.order_id: saga for saga in pos_core.audit_sagas(tenant_id=self.tid, order_ids=references)} \
            if references else {}
        for info in strays:
            if info.reference in elsewhere or info.refunded == info.captured:
                continue
            saga = sagas.get(info.reference)
            self.add("capture_without_order", info.id, f"{info.method} capture of {info.captured} "
                     f"({info.refunded} refunded)" + (f"; saga is {saga.status}" if saga else "; no saga"),
                     saga=saga.id if saga else "", reference=info.reference)

    def sales_against_orders(self) -> None:
        sales = inventory.list_movements(tenant_id=self.tid, kinds=["sale"], created_from=self.start,
                                         created_to=self.end)
        self.report.sales += len(sales)
        if not sales:
            return
        reservation_ids = list(dict.fromkeys(movement.reference for movement in sales))
        reservations = {r.id: r for r in inventory.list_reservations(tenant_id=self.tid, ids=reservation_ids)}
        owners = pos_core.reservation_owners(tenant_id=self.tid, keys=[r.key for r in reservations.values()])
        reported: set[str] = set()
        for movement in sales:
            if movement.reference in reported:
                continue
            reservation = reservations.get(movement.reference)
            if reservation is not None and reservation.status == "returned":
                continue  # taken back whole (an order that was not completed)
            owner = owners.get(reservation.key) if reservation is not None else None
            if owner is not None and (owner.ordered or owner.live):
                continue  # sold to its order, or by a saga still placing it (it records the order or gives it back)
            reported.add(movement.reference)
            self.add("sale_without_order", movement.reference, f"sale of {movement.quantity} "
                     f"{_item_key(movement.product_id, movement.variant)}: "
                     + ("under an unknown reservation" if reservation is None else
                        f"{owner.kind} is {owner.status}" if owner else f"nothing in pos_core made {reservation.key!r}"),
                     saga=owner.owner_id if owner and owner.kind == "saga" else "")

    def active_reservations(self) -> None:
        active = inventory.list_reservations(tenant_id=self.tid, status="active")
        self.report.reservations += len(active)
        if not active:
            return
        owners = pos_core.reservation_owners(tenant_id=self.tid, keys=[r.key for r in active])
        now = timezone.now()
        for reservation in active:
            owner = owners.get(reservation.key)
            if owner is None or not owner.live:
                self.add("reservation_without_running_saga", reservation.id, f"active reservation {reservation.key!r}: "
                         + (f"{owner.kind} is {owner.status}" if owner else "nothing in pos_core holds it"),
                         saga=owner.owner_id if owner and owner.kind == "saga" else "")
            elif reservation.expires_at + TTL_GRACE < now:
                self.add("reservation_past_ttl", reservation.id, f"active reservation {reservation.key!r} expired "
                         f"at {reservation.expires_at.isoformat()}", saga=owner.owner_id)

    # --- stock: ledger and pos_core's copy -----------------------------------------------------------

    def ledger_and_levels(self) -> None:
        for problem in inventory.ledger_disagreements(tenant_id=self.tid):
            item = _item_key(problem["product_id"], problem["variant"])
            self.add("ledger_differs", item, f"on hand {problem['on_hand']} (ledger {problem['ledger_on_hand']}), "
                     f"reserved {problem['reserved']} (ledger {problem['ledger_reserved']})")
        levels = inventory.list_stock_levels(tenant_id=self.tid)
        self.report.stock_items += len(levels)
        kept = {(level.product_id, level.variant): level for level in pos_core.kept_stock_levels(tenant_id=self.tid)}
        for level in levels:
            if level.sequence == 0:
                continue  # never changed: nothing was published yet
            item = _item_key(level.product_id, level.variant)
            copy = kept.get((level.product_id, level.variant))
            if copy is None:
                self.add("stock_cache_missing", item, f"inventory has {level.available} available (#{level.sequence})")
            elif copy.sequence < level.sequence:
                self.add("stock_cache_behind", item, f"pos_core has {copy.level} (#{copy.sequence}), inventory "
                         f"{level.available} (#{level.sequence})")
            elif copy.sequence == level.sequence and copy.level != level.available:
                self.add("stock_cache_differs", item, f"pos_core has {copy.level}, inventory {level.available} "
                         f"at #{level.sequence}")


def describe(kinds: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """The invariants checked, as (kind, meaning), for documentation and the command's --help."""
    return [(kind, KINDS[kind]) for kind in (kinds or KINDS)]
