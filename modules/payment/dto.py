"""What the payment module hands to other modules: frozen dataclasses, never model instances."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from pos.money import Money

METHODS = ("cash", "card", "kbzpay", "wavepay")


@dataclass(frozen=True)
class PaymentInfo:
    id: str
    status: str  # pending | captured | declined | failed | partially_refunded | refunded
    method: str
    amount: Money  # what the caller asked for
    captured: Money  # what was taken: amount + rounding_adjustment once captured, zero before
    refunded: Money
    rounding_adjustment: Money  # cash rounding, explicit (may be negative)
    tendered: Money | None
    change_due: Money | None
    provider_reference: str
    created_at: datetime
    reference: str = ""  # the caller's reference (an order id, a saga id)
    decline_reason: str = ""
    refundable: Money | None = None  # captured - refunded - refunds in flight
    version: int = 1
    updated_at: datetime | None = None
    terminal_id: str = ""  # the terminal that took it ("" from other doors)
    shift_id: str | None = None  # the drawer shift it counts in
    late_for_shift_id: str | None = None  # started in this shift, which closed before the capture


@dataclass(frozen=True)
class RefundInfo:
    id: str
    payment_id: str
    amount: Money
    reason: str
    status: str  # pending | succeeded | failed
    created_at: datetime
    provider_reference: str = ""
    terminal_id: str = ""
    shift_id: str | None = None  # the drawer shift it counts in
    late_for_shift_id: str | None = None  # the refunded payment's shift, closed when the refund was made


def payment_info(payment) -> PaymentInfo:
    """Build the DTO from a Payment row (duck-typed so dto.py stays free of models)."""
    currency = payment.currency
    settled = payment.status not in ("pending", "declined", "failed")
    return PaymentInfo(
        id=str(payment.id), status=payment.status, method=payment.method,
        amount=Money(payment.amount, currency),
        captured=Money(payment.captured_amount, currency),
        refunded=Money(payment.refunded_amount, currency),
        rounding_adjustment=Money(payment.rounding_adjustment, currency),
        tendered=Money(payment.tendered, currency) if payment.tendered is not None else None,
        change_due=Money(payment.change_due, currency) if payment.change_due is not None else None,
        provider_reference=payment.provider_reference, created_at=payment.created_at,
        reference=payment.reference, decline_reason=payment.decline_reason,
        refundable=Money(payment.refundable_amount if settled else 0, currency),
        version=payment.version, updated_at=payment.updated_at, terminal_id=payment.terminal_id,
        shift_id=_str_or_none(payment.shift_id), late_for_shift_id=_str_or_none(payment.late_for_shift_id),
    )


def refund_info(refund) -> RefundInfo:
    return RefundInfo(
        id=str(refund.id), payment_id=str(refund.payment_id), amount=Money(refund.amount, refund.currency),
        reason=refund.reason, status=refund.status, created_at=refund.created_at,
        provider_reference=refund.provider_reference, terminal_id=refund.terminal_id,
        shift_id=_str_or_none(refund.shift_id), late_for_shift_id=_str_or_none(refund.late_for_shift_id),
    )


def _str_or_none(value) -> str | None:
    return None if value is None else str(value)


# --- cash drawers and shifts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DrawerTerminalInfo:
    terminal_id: str
    terminal_name: str  # as it was when assigned


@dataclass(frozen=True)
class DrawerInfo:
    id: str
    name: str
    terminals: tuple[DrawerTerminalInfo, ...]
    open_shift_id: str | None


@dataclass(frozen=True)
class ShiftInfo:
    id: str
    drawer_id: str
    drawer_name: str
    status: str  # open | closed
    opening_float: Money
    opened_at: datetime
    opened_by: str
    note: str
    closed_at: datetime | None
    closed_by: str
    close_note: str
    counted: dict[str, Money]  # empty while open
    expected_cash: Money | None  # set at closing
    counted_cash: Money | None
    cash_difference: Money | None  # counted - expected: over > 0, short < 0
    version: int


@dataclass(frozen=True)
class CashMovementInfo:
    id: str
    shift_id: str
    kind: str  # in | out
    amount: Money
    reason: str
    actor: str
    created_at: datetime


@dataclass(frozen=True)
class CashSummary:
    """The cash in the drawer: expected = float + tendered - change - refunds + cash in - cash out."""

    opening_float: Money
    sales: Money  # cash captured (rounded): tendered - change
    tendered: Money
    change_given: Money
    rounding: Money  # included in sales: rounded total - asked total
    refunds: Money
    cash_in: Money
    cash_out: Money
    expected: Money


@dataclass(frozen=True)
class MethodTotals:
    method: str
    sales_count: int
    sales: Money  # captured
    refunds_count: int
    refunds: Money  # succeeded refunds counted in this shift
    expected: Money  # cash: the drawer (CashSummary.expected); other methods: sales - refunds
    counted: Money | None  # None: not counted (X report, or a method left out at closing)
    difference: Money | None  # counted - expected


@dataclass(frozen=True)
class ShiftReport:
    """The X report of an open shift (so far) or the Z report of a closed one (as it was at closing)."""

    kind: str  # "X" | "Z"
    shift: ShiftInfo
    generated_at: datetime
    cash: CashSummary
    methods: tuple[MethodTotals, ...]
    movements: tuple[CashMovementInfo, ...]
    late_payments: int  # captured here after their own shift had closed
    late_refunds: int  # refunds here of payments (or refunds) whose shift had closed
    pending_payments: int  # outcome unknown; if captured after closing, they count in the drawer's next shift


def drawer_info(drawer, open_shift_id) -> DrawerInfo:
    return DrawerInfo(id=str(drawer.id), name=drawer.name, open_shift_id=_str_or_none(open_shift_id),
                      terminals=tuple(DrawerTerminalInfo(terminal_id=str(link.terminal_id),
                                                         terminal_name=link.terminal_name)
                                      for link in drawer.terminals.all()))


def shift_info(shift) -> ShiftInfo:
    currency = shift.currency

    def money(value):
        return None if value is None else Money(value, currency)

    return ShiftInfo(
        id=str(shift.id), drawer_id=str(shift.drawer_id), drawer_name=shift.drawer.name, status=shift.status,
        opening_float=Money(shift.opening_float, currency), opened_at=shift.opened_at, opened_by=shift.opened_by,
        note=shift.note, closed_at=shift.closed_at, closed_by=shift.closed_by, close_note=shift.close_note,
        counted={method: Money(amount, currency) for method, amount in (shift.counted or {}).items()},
        expected_cash=money(shift.expected_cash), counted_cash=money(shift.counted_cash),
        cash_difference=money(shift.cash_difference), version=shift.version,
    )


def movement_info(movement) -> CashMovementInfo:
    return CashMovementInfo(id=str(movement.id), shift_id=str(movement.shift_id), kind=movement.kind,
                            amount=Money(movement.amount, movement.currency), reason=movement.reason,
                            actor=movement.actor, created_at=movement.created_at)


def report_to_json(report: ShiftReport) -> dict:
    """The Z report as stored with the closed shift: plain JSON, amounts in minor units."""

    def m(value: Money | None):
        return None if value is None else value.amount

    cash = report.cash
    return {
        "kind": report.kind, "generated_at": report.generated_at.isoformat(), "currency": cash.expected.currency,
        "cash": {name: m(getattr(cash, name)) for name in CASH_FIELDS},
        "methods": [{"method": line.method, "sales_count": line.sales_count, "sales": m(line.sales),
                     "refunds_count": line.refunds_count, "refunds": m(line.refunds), "expected": m(line.expected),
                     "counted": m(line.counted), "difference": m(line.difference)} for line in report.methods],
        "movements": [{"id": mv.id, "kind": mv.kind, "amount": m(mv.amount), "reason": mv.reason, "actor": mv.actor,
                       "created_at": mv.created_at.isoformat()} for mv in report.movements],
        "late_payments": report.late_payments, "late_refunds": report.late_refunds,
        "pending_payments": report.pending_payments,
    }


def report_from_json(data: dict, shift: ShiftInfo) -> ShiftReport:
    currency = data["currency"]

    def m(value):
        return None if value is None else Money(value, currency)

    return ShiftReport(
        kind=data["kind"], shift=shift, generated_at=datetime.fromisoformat(data["generated_at"]),
        cash=CashSummary(**{name: m(data["cash"][name]) for name in CASH_FIELDS}),
        methods=tuple(MethodTotals(method=line["method"], sales_count=line["sales_count"], sales=m(line["sales"]),
                                   refunds_count=line["refunds_count"], refunds=m(line["refunds"]),
                                   expected=m(line["expected"]), counted=m(line["counted"]),
                                   difference=m(line["difference"])) for line in data["methods"]),
        movements=tuple(CashMovementInfo(id=mv["id"], shift_id=shift.id, kind=mv["kind"], amount=m(mv["amount"]),
                                         reason=mv["reason"], actor=mv["actor"],
                                         created_at=datetime.fromisoformat(mv["created_at"]))
                        for mv in data["movements"]),
        late_payments=data["late_payments"], late_refunds=data["late_refunds"],
        pending_payments=data["pending_payments"],
    )


CASH_FIELDS = ("opening_float", "sales", "tendered", "change_given", "rounding", "refunds", "cash_in", "cash_out",
               "expected")


@dataclass(frozen=True)
class ImportedPayments:
    """What import_payments did: `ids` maps every key of the batch to its payment id (new or already there)."""

    ids: dict[str, str]
    created: tuple[str, ...]
    existing: tuple[str, ...]


@dataclass(frozen=True)
class ImportedDay:
    """Imported payments of one day (in the tenant's time zone): count and captured/refunded sums."""

    day: str  # ISO date
    payments: int
    captured: int
    refunds: int
    refunded: int
