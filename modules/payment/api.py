"""The payment module's front door for other modules: plain functions, DTOs only.

Every function is keyword-only, takes the tenant explicitly and returns frozen dataclasses. Errors are
DomainError subclasses re-exported here, so a caller can catch them without importing internals."""

from __future__ import annotations

import uuid
from datetime import datetime

from modules.accounts import api as accounts
from pos.money import Money

from .dto import (
    METHODS,
    CashMovementInfo,
    CashSummary,
    DrawerInfo,
    ImportedDay,
    ImportedPayments,
    MethodTotals,
    PaymentInfo,
    RefundInfo,
    ShiftInfo,
    ShiftReport,
)
from .errors import (
    DrawerNotFound,
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InsufficientTender,
    InvalidAmount,
    InvalidImport,
    InvalidShiftRequest,
    MethodNotAccepted,
    NotRefundable,
    NotYourDrawer,
    OverRefund,
    PaymentAmbiguous,
    PaymentDeclined,
    PaymentFailed,
    PaymentNotFound,
    RefundFailed,
    ShiftAlreadyOpen,
    ShiftClosed,
    ShiftNotFound,
    ShiftRequired,
)
from .selectors import accepted_methods as _accepted_methods
from .selectors import check_cash_shift as _check_cash_shift
from .selectors import current_shift as _current_shift
from .selectors import drawer_list as _drawer_list
from .selectors import payment_by_key as _payment_by_key
from .selectors import payment_get as _payment_get
from .selectors import payment_get_many as _payment_get_many
from .selectors import payment_refunds as _payment_refunds
from .selectors import payments_find as _payments_find
from .selectors import refund_by_key as _refund_by_key
from .selectors import refunds_of_payments as _refunds_of_payments
from .selectors import shift_get as _shift_get
from .selectors import shift_movements as _shift_movements
from .selectors import shift_report as _shift_report
from .services import imported_payment_id as _imported_payment_id
from .services import imported_payments_by_day as _imported_by_day
from .services import imported_refund_id as _imported_refund_id
from .services import payment_charge as _charge
from .services import payment_refund as _refund
from .services import payments_import as _import
from .services import shift_cash_movement as _shift_cash_movement
from .services import shift_close as _shift_close
from .services import shift_open as _shift_open

__all__ = [
    "METHODS",
    "CashMovementInfo",
    "CashSummary",
    "DrawerInfo",
    "DrawerNotFound",
    "IdempotencyConflict",
    "IdempotencyKeyRequired",
    "ImportedDay",
    "ImportedPayments",
    "InsufficientTender",
    "InvalidAmount",
    "InvalidImport",
    "InvalidShiftRequest",
    "MethodNotAccepted",
    "MethodTotals",
    "NotRefundable",
    "NotYourDrawer",
    "OverRefund",
    "PaymentAmbiguous",
    "PaymentDeclined",
    "PaymentFailed",
    "PaymentInfo",
    "PaymentNotFound",
    "RefundFailed",
    "RefundInfo",
    "ShiftAlreadyOpen",
    "ShiftClosed",
    "ShiftInfo",
    "ShiftNotFound",
    "ShiftReport",
    "ShiftRequired",
    "accepted_methods",
    "charge",
    "check_cash_shift",
    "close_shift",
    "current_shift",
    "find_payment",
    "find_refund",
    "get_drawers",
    "get_payment",
    "get_payments",
    "get_refunds",
    "get_refunds_of_payments",
    "get_shift",
    "get_shift_movements",
    "get_shift_report",
    "import_payments",
    "imported_payment_id",
    "imported_payments_by_day",
    "imported_refund_id",
    "list_payments",
    "open_shift",
    "record_cash_movement",
    "refund",
]


def charge(*, tenant_id: uuid.UUID, amount: Money, method: str, idempotency_key: str, tendered: Money | None = None,
           reference: str = "", terminal_id: str = "") -> PaymentInfo:
    """Take `amount` by `method`, once per (tenant, idempotency_key).

    The pending payment and the provider key derived from `idempotency_key` are committed before the provider
    is called; the same key again returns the same PaymentInfo (or raises the same decline) and never charges
    twice. Cash rounds `amount` to the tenant's cash_rounding_unit and records `rounding_adjustment` explicitly:
    captured = amount + rounding_adjustment, change_due = tendered - captured (tendered None: exact cash).
    `reference` (an order or saga id) is stored and carried on the events.

    `terminal_id` (the terminal taking the payment) places it in the open shift of that terminal's cash drawer;
    pass it from every door that has a terminal. If the restaurant requires an open shift for cash and the
    drawer has none, a cash payment raises ShiftRequired (409) and nothing is written or charged. A payment
    captured after its shift closed counts in the drawer's current shift and says so (late_for_shift_id).

    Publishes payment.captured, payment.declined or payment.failed.
    Raises PaymentDeclined (402, extra payment_id, reason), PaymentFailed (a PaymentDeclined, 502: provider error,
    nothing charged), PaymentAmbiguous (504, extra payment_id: outcome unknown after lookup retries; the payment
    stays pending and payment.resolve_pending settles it; retry with the same key), MethodNotAccepted (400),
    InvalidAmount (400: not Money, zero/negative, other currency, tendered on a non-cash method),
    InsufficientTender (400), IdempotencyConflict (422: same key, different amount/currency/method),
    IdempotencyKeyRequired (400), ShiftRequired (409).
    """
    return _charge(tenant_id=tenant_id, amount=amount, method=method, idempotency_key=idempotency_key,
                   tendered=tendered, reference=reference, terminal_id=terminal_id)


def refund(*, tenant_id: uuid.UUID, payment_id: str, amount: Money, idempotency_key: str, reason: str,
           actor: str = "", terminal_id: str = "") -> RefundInfo:
    """Refund `amount` of a captured payment, once per (tenant, idempotency_key). Several partial refunds are
    allowed; their sum never exceeds what was captured, also under concurrent requests.

    The refund counts in the open shift of `terminal_id`'s drawer (without a terminal: the payment's drawer).
    A refund of a payment whose shift has closed counts in the current shift and says so (late_for_shift_id).
    A refund is never refused for want of a shift (a compensation must always be able to give money back).

    Publishes payment.refunded. Raises PaymentNotFound (404), OverRefund (422, extra refundable, currency),
    NotRefundable (409: pending, declined or failed payment), InvalidAmount (400: zero, negative, other currency,
    blank reason), IdempotencyConflict (422), RefundFailed (502: provider refused, nothing refunded),
    PaymentAmbiguous (504: refund outcome unknown, stays pending until resolved by lookup).
    """
    return _refund(tenant_id=tenant_id, payment_id=payment_id, amount=amount, idempotency_key=idempotency_key,
                   reason=reason, actor=actor, terminal_id=terminal_id)


def get_payment(*, tenant_id: uuid.UUID, payment_id: str) -> PaymentInfo:
    """One payment of the tenant. Raises PaymentNotFound (also for another tenant's payment)."""
    return _payment_get(tenant_id=tenant_id, payment_id=payment_id)


def get_payments(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, PaymentInfo]:
    """Many payments of the tenant in one query, by id. Unknown ids (or other tenants') are absent."""
    return _payment_get_many(tenant_id=tenant_id, payment_ids=payment_ids)


def get_refunds(*, tenant_id: uuid.UUID, payment_id: str) -> list[RefundInfo]:
    """The refunds of one payment, oldest first (empty for an unknown payment)."""
    return _payment_refunds(tenant_id=tenant_id, payment_id=payment_id)


def find_payment(*, tenant_id: uuid.UUID, idempotency_key: str) -> PaymentInfo | None:
    """The payment charged with `idempotency_key` (in any status), or None if no charge was ever started with
    it. Never calls the provider and never charges: it lets a caller whose answer was lost learn what happened."""
    return _payment_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)


def find_refund(*, tenant_id: uuid.UUID, idempotency_key: str) -> RefundInfo | None:
    """The refund made with `idempotency_key` (pending, succeeded or failed), or None if none was started."""
    return _refund_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)


def list_payments(*, tenant_id: uuid.UUID, created_from: datetime | None = None, created_to: datetime | None = None,
                  statuses: list[str] | None = None, references: list[str] | None = None) -> list[PaymentInfo]:
    """The tenant's payments, oldest first, in one query: created in [created_from, created_to), in `statuses`,
    and/or carrying one of `references` (the caller's reference given to charge)."""
    return _payments_find(tenant_id=tenant_id, created_from=created_from, created_to=created_to, statuses=statuses,
                          references=references)


def get_refunds_of_payments(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, list[RefundInfo]]:
    """The refunds of many payments in one query: payment id -> refunds oldest first (unknown ids: absent)."""
    return _refunds_of_payments(tenant_id=tenant_id, payment_ids=payment_ids)


def accepted_methods(*, tenant_id: uuid.UUID) -> list[str]:
    """The payment methods this tenant accepts. Raises accounts' TenantNotFound."""
    return _accepted_methods(tenant_payment_methods=accounts.get_tenant(tenant_id).payment_methods)


# --- cash drawers and shifts -----------------------------------------------------------------------------------


def open_shift(*, tenant_id: uuid.UUID, opening_float: Money, idempotency_key: str, actor: str,
               terminal_id: str = "", terminal_name: str = "", drawer_id: str | None = None,
               any_drawer: bool = False, note: str = "") -> ShiftInfo:
    """Open a shift with `opening_float` on `drawer_id`, or on the terminal's drawer (a terminal without one gets a
    drawer of its own, named `terminal_name`). Once per key: the same key returns the same shift.
    `any_drawer` (managers) allows a drawer the terminal is not assigned to.

    Raises ShiftAlreadyOpen (409, extra shift_id), DrawerNotFound (404), NotYourDrawer (403), InvalidAmount (400:
    negative, not Money, other currency), InvalidShiftRequest (400: no drawer and no terminal),
    IdempotencyConflict (422), IdempotencyKeyRequired (400)."""
    return _shift_open(tenant_id=tenant_id, opening_float=opening_float, idempotency_key=idempotency_key,
                       actor=actor, terminal_id=terminal_id, terminal_name=terminal_name, drawer_id=drawer_id,
                       any_drawer=any_drawer, note=note)


def record_cash_movement(*, tenant_id: uuid.UUID, shift_id: str, kind: str, amount: Money, reason: str,
                         idempotency_key: str, actor: str, terminal_id: str = "",
                         any_drawer: bool = False) -> CashMovementInfo:
    """Cash put into (`kind="in"`: float top-up, correction) or taken out of (`"out"`: pay-out, safe drop) an open
    shift's drawer, with a reason; once per key.

    Raises ShiftNotFound (404), ShiftClosed (409), NotYourDrawer (403), InvalidAmount / InvalidShiftRequest (400),
    IdempotencyConflict (422), IdempotencyKeyRequired (400)."""
    return _shift_cash_movement(tenant_id=tenant_id, shift_id=shift_id, kind=kind, amount=amount, reason=reason,
                                idempotency_key=idempotency_key, actor=actor, terminal_id=terminal_id,
                                any_drawer=any_drawer)


def close_shift(*, tenant_id: uuid.UUID, shift_id: str, counted: dict[str, Money], idempotency_key: str,
                actor: str, terminal_id: str = "", any_drawer: bool = False, note: str = "") -> ShiftReport:
    """Close an open shift with the amount counted per payment method (cash required) and return its Z report:
    expected versus counted and the difference per method, who closed it. The report is kept as it is; the shift
    never changes again. The same key returns the same report.

    Raises ShiftNotFound (404), ShiftClosed (409, closed with another key), NotYourDrawer (403),
    InvalidShiftRequest / InvalidAmount (400), IdempotencyConflict (422), IdempotencyKeyRequired (400)."""
    return _shift_close(tenant_id=tenant_id, shift_id=shift_id, counted=counted, idempotency_key=idempotency_key,
                        actor=actor, terminal_id=terminal_id, any_drawer=any_drawer, note=note)


def get_shift(*, tenant_id: uuid.UUID, shift_id: str) -> ShiftInfo:
    """One shift of the tenant. Raises ShiftNotFound (also for another tenant's shift)."""
    return _shift_get(tenant_id=tenant_id, shift_id=shift_id)


def current_shift(*, tenant_id: uuid.UUID, terminal_id: str) -> ShiftInfo | None:
    """The open shift of the terminal's drawer, or None."""
    return _current_shift(tenant_id=tenant_id, terminal_id=terminal_id)


def get_shift_report(*, tenant_id: uuid.UUID, shift_id: str) -> ShiftReport:
    """The X report of an open shift (so far) or the Z report of a closed one. Raises ShiftNotFound."""
    return _shift_report(tenant_id=tenant_id, shift_id=shift_id)


def get_shift_movements(*, tenant_id: uuid.UUID, shift_id: str) -> list[CashMovementInfo]:
    """A shift's cash movements, oldest first. Raises ShiftNotFound."""
    return _shift_movements(tenant_id=tenant_id, shift_id=shift_id)


def check_cash_shift(*, tenant_id: uuid.UUID, terminal_id: str) -> None:
    """Raise ShiftRequired (409) if the restaurant requires an open shift for cash payments and the terminal's
    drawer has none. A pre-check, so a caller refuses before starting anything; `charge` checks again under the
    shift's lock."""
    _check_cash_shift(tenant_id=tenant_id, terminal_id=terminal_id)


def get_drawers(*, tenant_id: uuid.UUID) -> list[DrawerInfo]:
    """The tenant's cash drawers with their terminals and open shift."""
    return _drawer_list(tenant_id=tenant_id)


def import_payments(*, tenant_id: uuid.UUID, payments: list[dict], source: str) -> ImportedPayments:
    """Record historical payments and their refunds as they were settled, without calling any provider (nobody is
    charged or refunded): one payment-database transaction and a constant number of statements per batch.

    Each entry: `key` (the caller's natural key, e.g. "legacy:1234"; the payment id is derived from it),
    `method` (one of METHODS), `amount` (int minor units > 0, captured as is: no rounding), `currency` (the
    tenant's), `captured_at` (aware datetime; also the payment's created_at), optional `tendered`, `reference`
    (e.g. the order id), `provider_reference`, and `refunds`: [{key, amount > 0, reason, created_at, actor?}],
    recorded as succeeded and summing to at most the amount (status captured, partially_refunded or refunded).
    Idempotent by key: a key already imported is reported in `existing` and left as it is. Publishes one
    payment.history_imported per batch (not payment.captured per payment: nothing happened now).
    Raises InvalidImport (400, every problem as `payments[i].field`; nothing written), TenantNotFound."""
    ids, created, existing = _import(tenant_id=tenant_id, payments=payments, source=source)
    return ImportedPayments(ids=ids, created=tuple(created), existing=tuple(existing))


def imported_payments_by_day(*, tenant_id: uuid.UUID, key_prefix: str, tz: str) -> list[ImportedDay]:
    """For verifying an import: per day in time zone `tz`, the imported payments whose key starts with
    `key_prefix` (count and captured sum, by capture day) and their refunds (count and sum, by refund day).
    Two queries whatever the number of payments. Raises nothing; unknown prefixes give an empty list."""
    return [ImportedDay(**row) for row in _imported_by_day(tenant_id=tenant_id, key_prefix=key_prefix, tz=tz)]


def imported_payment_id(*, tenant_id: uuid.UUID, key: str) -> str:
    """The id the payment imported (or to be imported) under `key` has: a stable function of tenant and key, so
    a caller can refer to it (e.g. on an order) before or after import_payments. Raises nothing."""
    return str(_imported_payment_id(tenant_id, key))


def imported_refund_id(*, tenant_id: uuid.UUID, key: str) -> str:
    """The id the refund imported (or to be imported) under `key` has, like imported_payment_id."""
    return str(_imported_refund_id(tenant_id, key))
