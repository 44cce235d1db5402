"""Reads of the payment module."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from modules.accounts import api as accounts
from pos.money import Money
from pos.tenancy import tenant_context

from .dto import (
    METHODS,
    CashMovementInfo,
    CashSummary,
    DrawerInfo,
    MethodTotals,
    PaymentInfo,
    RefundInfo,
    ShiftInfo,
    ShiftReport,
    drawer_info,
    movement_info,
    payment_info,
    refund_info,
    report_from_json,
    shift_info,
)
from .errors import PaymentNotFound, ShiftNotFound, ShiftRequired
from .models import (
    CashDrawer,
    CashMovement,
    DrawerTerminal,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Shift,
    ShiftStatus,
)

DB = "payment"


def _uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def payment_get(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID) -> PaymentInfo:
    pk = _uuid(payment_id)
    with tenant_context(tenant_id):
        payment = Payment.objects.using(DB).filter(pk=pk).first() if pk else None
    if payment is None:
        raise PaymentNotFound(f"No payment {payment_id}.", payment_id=str(payment_id))
    return payment_info(payment)


def payment_get_many(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, PaymentInfo]:
    pks = [pk for pk in (_uuid(value) for value in payment_ids) if pk]
    with tenant_context(tenant_id):
        rows = list(Payment.objects.using(DB).filter(pk__in=pks)) if pks else []
    return {str(row.id): payment_info(row) for row in rows}


def payment_refunds(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID) -> list[RefundInfo]:
    pk = _uuid(payment_id)
    with tenant_context(tenant_id):
        rows = list(Refund.objects.using(DB).filter(payment_id=pk).order_by("created_at")) if pk else []
    return [refund_info(row) for row in rows]


def payments_find(*, tenant_id: uuid.UUID, created_from: datetime | None = None,
                  created_to: datetime | None = None, statuses: list[str] | None = None,
                  references: list[str] | None = None) -> list[PaymentInfo]:
    with tenant_context(tenant_id):
        rows = Payment.objects.using(DB).all()
        if created_from is not None:
            rows = rows.filter(created_at__gte=created_from)
        if created_to is not None:
            rows = rows.filter(created_at__lt=created_to)
        if statuses is not None:
            rows = rows.filter(status__in=statuses)
        if references is not None:
            rows = rows.filter(reference__in=[ref for ref in references if ref])
        return [payment_info(row) for row in rows.order_by("created_at", "id")]


def payment_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> PaymentInfo | None:
    with tenant_context(tenant_id):
        row = Payment.objects.using(DB).filter(idempotency_key=idempotency_key).first()
    return payment_info(row) if row is not None else None


def refund_by_key(*, tenant_id: uuid.UUID, idempotency_key: str) -> RefundInfo | None:
    with tenant_context(tenant_id):
        row = Refund.objects.using(DB).filter(idempotency_key=idempotency_key).first()
    return refund_info(row) if row is not None else None


def refunds_of_payments(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, list[RefundInfo]]:
    pks = [pk for pk in (_uuid(value) for value in payment_ids) if pk]
    found: dict[str, list[RefundInfo]] = {str(pk): [] for pk in pks}
    with tenant_context(tenant_id):
        rows = list(Refund.objects.using(DB).filter(payment_id__in=pks).order_by("created_at")) if pks else []
    for row in rows:
        found[str(row.payment_id)].append(refund_info(row))
    return found


def payment_list(*, status: str | None = None, method: str | None = None, reference: str | None = None,
                 created_after: datetime | None = None, created_before: datetime | None = None,
                 shift_id: uuid.UUID | None = None) -> QuerySet[Payment]:
    """Payments of the tenant in scope, newest first, filtered. The caller paginates."""
    queryset = Payment.objects.using(DB).order_by("-created_at", "-id")
    if shift_id:
        queryset = queryset.filter(shift_id=shift_id)
    if status:
        queryset = queryset.filter(status=status)
    if method:
        queryset = queryset.filter(method=method)
    if reference:
        queryset = queryset.filter(reference=reference)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def accepted_methods(*, tenant_payment_methods: tuple[str, ...]) -> list[str]:
    """The tenant's accepted methods that this module supports, in the module's order."""
    return [method for method in METHODS if method in tenant_payment_methods]


# --- cash drawers and shifts ---------------------------------------------------------------------------------


def shift_queryset():
    return Shift.objects.using(DB).select_related("drawer")


def shift_get(*, tenant_id: uuid.UUID, shift_id: str | uuid.UUID) -> ShiftInfo:
    pk = _uuid(shift_id)
    with tenant_context(tenant_id):
        shift = shift_queryset().filter(pk=pk).first() if pk else None
    if shift is None:
        raise ShiftNotFound(f"No shift {shift_id}.", shift_id=str(shift_id))
    return shift_info(shift)


def shift_list(*, status: str | None = None, drawer_id: uuid.UUID | None = None,
               opened_after: datetime | None = None, opened_before: datetime | None = None,
               result: str | None = None) -> QuerySet[Shift]:
    """Shifts of the tenant in scope, newest first. `result`: over, short or exact (closed shifts by their cash
    difference). The caller paginates."""
    queryset = shift_queryset().order_by("-opened_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    if drawer_id:
        queryset = queryset.filter(drawer_id=drawer_id)
    if opened_after:
        queryset = queryset.filter(opened_at__gte=opened_after)
    if opened_before:
        queryset = queryset.filter(opened_at__lt=opened_before)
    if result == "over":
        queryset = queryset.filter(cash_difference__gt=0)
    elif result == "short":
        queryset = queryset.filter(cash_difference__lt=0)
    elif result == "exact":
        queryset = queryset.filter(cash_difference=0)
    return queryset


def drawer_of_terminal(*, terminal_id: str | uuid.UUID | None) -> uuid.UUID | None:
    """The drawer a terminal is assigned to (tenant in scope), or None."""
    pk = _uuid(terminal_id) if terminal_id else None
    if pk is None:
        return None
    return DrawerTerminal.objects.using(DB).filter(terminal_id=pk).values_list("drawer_id", flat=True).first()


def current_shift(*, tenant_id: uuid.UUID, terminal_id: str | uuid.UUID) -> ShiftInfo | None:
    """The open shift of the terminal's drawer, or None (no drawer, or no open shift)."""
    with tenant_context(tenant_id):
        drawer_id = drawer_of_terminal(terminal_id=terminal_id)
        shift = shift_queryset().filter(drawer_id=drawer_id, status=ShiftStatus.OPEN).first() if drawer_id else None
    return shift_info(shift) if shift else None


def check_cash_shift(*, tenant_id: uuid.UUID, terminal_id: str | uuid.UUID) -> None:
    if not accounts.get_tenant(tenant_id).require_open_shift_for_cash:
        return
    if current_shift(tenant_id=tenant_id, terminal_id=terminal_id) is None:
        raise ShiftRequired(
            "This restaurant takes cash only during an open shift, and this terminal's drawer has none. Open a shift "
            "(POST /api/v1/shifts) and try again; nothing was charged.", terminal_id=str(terminal_id or ""))


def drawer_list(*, tenant_id: uuid.UUID) -> list[DrawerInfo]:
    """Every drawer of the tenant with its terminals and its open shift (three queries, however many)."""
    with tenant_context(tenant_id):
        drawers = list(CashDrawer.objects.using(DB).prefetch_related("terminals").order_by("name"))
        open_shifts = dict(Shift.objects.using(DB).filter(status=ShiftStatus.OPEN)
                           .values_list("drawer_id", "id"))
    return [drawer_info(drawer, open_shifts.get(drawer.id)) for drawer in drawers]


def shift_movements(*, tenant_id: uuid.UUID, shift_id: str | uuid.UUID) -> list[CashMovementInfo]:
    shift_get(tenant_id=tenant_id, shift_id=shift_id)  # 404 for an unknown or another tenant's shift
    with tenant_context(tenant_id):
        rows = list(CashMovement.objects.using(DB).filter(shift_id=_uuid(shift_id)).order_by("created_at", "id"))
    return [movement_info(row) for row in rows]


def shift_report(*, tenant_id: uuid.UUID, shift_id: str | uuid.UUID) -> ShiftReport:
    """X report (open: so far) or Z report (closed: as stored at closing)."""
    pk = _uuid(shift_id)
    with tenant_context(tenant_id):
        shift = shift_queryset().filter(pk=pk).first() if pk else None
        if shift is None:
            raise ShiftNotFound(f"No shift {shift_id}.", shift_id=str(shift_id))
        if shift.status == ShiftStatus.CLOSED:
            return report_from_json(shift.z_report, shift_info(shift))
        return shift_compute_report(shift=shift, methods=accepted_methods(
            tenant_payment_methods=accounts.get_tenant(tenant_id).payment_methods))


CAPTURED_STATUSES = (PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED)


def shift_compute_report(*, shift: Shift, methods: list[str], counted: dict[str, int] | None = None,
                         kind: str = "X") -> ShiftReport:
    """Compute a shift's report from the payment module's own rows: captured payments, succeeded refunds and cash
    movements counted in this shift. Four queries, whatever the size of the shift."""
    sales = {row["method"]: row for row in (
        Payment.objects.using(DB).filter(shift_id=shift.id, status__in=CAPTURED_STATUSES).values("method")
        .annotate(count=Count("id"), captured=Sum("captured_amount"), rounding=Sum("rounding_adjustment"),
                  tendered=Sum(Coalesce("tendered", "captured_amount")), change=Sum(Coalesce("change_due", 0)),
                  late=Count("id", filter=Q(late_for_shift__isnull=False))).order_by())}
    refunds = {row["payment__method"]: row for row in (
        Refund.objects.using(DB).filter(shift_id=shift.id, status=RefundStatus.SUCCEEDED).values("payment__method")
        .annotate(count=Count("id"), amount=Sum("amount"), late=Count("id", filter=Q(late_for_shift__isnull=False)))
        .order_by())}
    movements = [movement_info(row) for row in
                 CashMovement.objects.using(DB).filter(shift_id=shift.id).order_by("created_at", "id")]
    pending = Payment.objects.using(DB).filter(shift_id=shift.id, status=PaymentStatus.PENDING).count()
    return build_report(shift=shift_info(shift), kind=kind, methods=methods, sales=sales, refunds=refunds,
                        movements=movements, pending=pending, counted=counted)


def build_report(*, shift: ShiftInfo, kind: str, methods: list[str], sales: dict[str, dict],
                 refunds: dict[str, dict], movements: list[CashMovementInfo], pending: int,
                 counted: dict[str, int] | None) -> ShiftReport:
    """The arithmetic of a report, apart from the database: integer minor units only."""
    currency = shift.opening_float.currency

    def money(value) -> Money:
        return Money(int(value or 0), currency)

    cash_sales, cash_refunds = sales.get("cash", {}), refunds.get("cash", {})
    cash_in = sum(mv.amount.amount for mv in movements if mv.kind == "in")
    cash_out = sum(mv.amount.amount for mv in movements if mv.kind == "out")
    expected_cash = (shift.opening_float.amount + int(cash_sales.get("tendered") or 0)
                     - int(cash_sales.get("change") or 0) - int(cash_refunds.get("amount") or 0) + cash_in - cash_out)
    cash = CashSummary(opening_float=shift.opening_float, sales=money(cash_sales.get("captured")),
                       tendered=money(cash_sales.get("tendered")), change_given=money(cash_sales.get("change")),
                       rounding=money(cash_sales.get("rounding")), refunds=money(cash_refunds.get("amount")),
                       cash_in=money(cash_in), cash_out=money(cash_out), expected=money(expected_cash))
    counted = counted or {}
    lines = []
    for method in [*methods, *sorted((set(sales) | set(refunds) | set(counted)) - set(methods))]:
        sold, refunded = sales.get(method, {}), refunds.get(method, {})
        expected = expected_cash if method == "cash" else int(sold.get("captured") or 0) - int(refunded.get("amount") or 0)
        count = counted.get(method)
        lines.append(MethodTotals(
            method=method, sales_count=int(sold.get("count") or 0), sales=money(sold.get("captured")),
            refunds_count=int(refunded.get("count") or 0), refunds=money(refunded.get("amount")),
            expected=money(expected), counted=None if count is None else money(count),
            difference=None if count is None else money(count - expected)))
    return ShiftReport(
        kind=kind, shift=shift, generated_at=timezone.now(), cash=cash, methods=tuple(lines),
        movements=tuple(movements), late_payments=sum(int(row.get("late") or 0) for row in sales.values()),
        late_refunds=sum(int(row.get("late") or 0) for row in refunds.values()), pending_payments=pending)
