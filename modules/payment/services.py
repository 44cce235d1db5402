"""Writes of the payment module: each state change is one transaction in the payment database.

A charge is three steps, never one: (1) the pending payment with its provider key is committed, (2) the
provider is called with that key outside any transaction, (3) the outcome is recorded with its event. If the
process dies between (1) and (3), `payment_resolve_pending` finishes the job by lookup. A refund works the same
way, with the refundable amount reserved on the payment under a row lock in step (1)."""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from modules.accounts import api as accounts
from pos.contracts.payment import PaymentCaptured as PaymentCapturedEvent
from pos.contracts.payment import PaymentDeclined as PaymentDeclinedEvent
from pos.contracts.payment import PaymentFailed as PaymentFailedEvent
from pos.contracts.payment import PaymentRefunded as PaymentRefundedEvent
from pos.db import alone
from pos.db.bulk import copy_insert, insert_together, refresh_statistics
from pos.db.hot import update_where
from pos.errors import DomainError
from pos.events import publish
from pos.money import Money
from pos.numbers import is_integer
from pos.tenancy import all_tenants, tenant_context

from .dto import (
    METHODS,
    CashMovementInfo,
    DrawerInfo,
    PaymentInfo,
    RefundInfo,
    ShiftInfo,
    ShiftReport,
    movement_info,
    payment_info,
    refund_info,
    report_from_json,
    report_to_json,
    shift_info,
)
from .errors import (
    DrawerNotFound,
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InsufficientTender,
    InvalidAmount,
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
from .gateways import GatewayAmbiguous, GatewayUnavailable, ProviderResult, gateway_for
from .models import (
    REFUNDABLE_STATUSES,
    CashDrawer,
    CashMovement,
    DrawerTerminal,
    MovementKind,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    Shift,
    ShiftStatus,
)
from .selectors import accepted_methods, drawer_of_terminal, shift_compute_report

DB = "payment"
MAX_KEY_LENGTH = 255
MAX_AMOUNT_MINOR = 10**12  # a sanity cap per payment; a typo, not a sale
LOOKUP_ATTEMPTS = 3  # asking the provider what it did, with a short backoff between tries
LOOKUP_BACKOFF_MS = 20
logger = logging.getLogger("modules.payment")


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(str(part) for part in parts).encode()).hexdigest()


def _provider_key(prefix: str, tenant_id: uuid.UUID, key: str) -> str:
    """The key the provider sees: derived from the caller's key, stable across retries, unique per tenant."""
    return f"{prefix}_{_digest(tenant_id, key)[:40]}"


def _check_key(key: object) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyRequired("An idempotency key of 1 to 255 characters is required.",
                                     field="idempotency_key")
    return key


def _check_money(value: object, field: str) -> Money:
    if not isinstance(value, Money):
        raise InvalidAmount(f"{field} must be Money (integer minor units and a currency).", field=field)
    return value


# --- charge --------------------------------------------------------------------------------------------------


def payment_charge(*, tenant_id: uuid.UUID, amount: Money, method: str, idempotency_key: str,
                   tendered: Money | None = None, reference: str = "", terminal_id: str = "") -> PaymentInfo:
    """Take a payment once per idempotency key. See api.charge for the promise and the errors."""
    key = _check_key(idempotency_key)
    amount = _check_money(amount, "amount")
    if tendered is not None:
        _check_money(tendered, "tendered")
    tenant = accounts.get_tenant(tenant_id)
    fingerprint = _digest(amount.amount, amount.currency, method)
    with tenant_context(tenant.id):
        # A new key is the common case: no lookup first. A key used before is found by the unique index (the
        # insert fails), or, when this request is refused, looked up: a retry gets the first answer, whatever
        # changed since (the methods accepted, the drawer's shift).
        try:
            payment = _record_charge(tenant=tenant, key=key, amount=amount, method=method, tendered=tendered,
                                     reference=reference, terminal_id=terminal_id, fingerprint=fingerprint)
        except IntegrityError:
            # the same key raced us in (or was used before): the first one owns the charge
            return _replay_charge(Payment.objects.using(DB).get(idempotency_key=key), fingerprint)
        except DomainError:
            existing = Payment.objects.using(DB).filter(idempotency_key=key).first()
            if existing is None:
                raise
            return _replay_charge(existing, fingerprint)
        if payment.status != PaymentStatus.PENDING:
            return _outcome(payment)
        return _send_charge(payment)


def _record_charge(*, tenant, key: str, amount: Money, method: str, tendered: Money | None, reference: str,
                   terminal_id: str, fingerprint: str) -> Payment:
    """Check a new charge and record it (pending; a cash payment captured at once). Raises DomainError for a
    charge refused, IntegrityError for a key used before."""
    accepted = [m for m in METHODS if m in tenant.payment_methods]
    if method not in accepted:
        raise MethodNotAccepted(f"{method!r} is not accepted here; use one of {', '.join(accepted)}.",
                                method=str(method), accepted=accepted)
    if amount.currency != tenant.currency:
        raise InvalidAmount(f"This restaurant takes {tenant.currency}, not {amount.currency}.",
                            field="currency", currency=tenant.currency)
    if amount.amount <= 0:
        raise InvalidAmount("The amount must be more than zero.", field="amount")
    if amount.amount > MAX_AMOUNT_MINOR:
        raise InvalidAmount(f"{amount} is above the per-payment cap.", field="amount")
    rounding = Money.zero(amount.currency)
    change_due = None
    if method == "cash":
        rounded = amount.round_to(tenant.cash_rounding_unit)
        if rounded.amount <= 0:
            raise InvalidAmount(f"{amount} rounds to nothing in cash (unit {tenant.cash_rounding_unit}).",
                                field="amount")
        rounding = rounded - amount
        if tendered is not None:
            if tendered.currency != amount.currency:
                raise InvalidAmount("Tendered cash must be in the payment's currency.", field="tendered")
            if tendered < rounded:
                raise InsufficientTender(f"{tendered} tendered, {rounded} due.", due=rounded.amount,
                                         tendered=tendered.amount, currency=rounded.currency)
            change_due = (tendered - rounded).amount
    elif tendered is not None:
        raise InvalidAmount("Tendered applies to cash payments only.", field="tendered")

    drawer_id = drawer_of_terminal(terminal_id=terminal_id)
    payment = Payment(
        tenant_id=tenant.id, method=method, currency=amount.currency, amount=amount.amount,
        rounding_adjustment=rounding.amount, tendered=tendered.amount if tendered is not None else None,
        change_due=change_due, idempotency_key=key, fingerprint=fingerprint,
        provider=gateway_for(method).name, provider_key=_provider_key("pay", tenant.id, key),
        reference=str(reference or "")[:100], terminal_id=str(terminal_id or "")[:64], drawer_id=drawer_id,
    )
    # A drawer's shift row stays locked until the payment is in (a close waits for it, or it sees the close), and
    # cash is captured with it: a transaction. Otherwise the one INSERT is alone (no BEGIN and COMMIT).
    with transaction.atomic(using=DB) if drawer_id is not None or method == "cash" else alone(DB):
        shift = _open_shift_for_update(drawer_id)
        if shift is None and method == "cash" and tenant.require_open_shift_for_cash:
            raise ShiftRequired(
                "This restaurant takes cash only during an open shift, and this terminal's drawer has none. "
                "Open a shift (POST /api/v1/shifts) and take the payment again; nothing was charged.",
                terminal_id=str(terminal_id or ""), drawer_id=str(drawer_id) if drawer_id else None)
        payment.shift_id = shift.id if shift else None
        insert_together(DB, [payment])  # its statement text is kept: no compiling per payment
        if method == "cash":
            # No provider stands between the guest and the drawer: a cash payment is captured in the
            # transaction that records it, under its shift's lock, so a close counts it whole or not at all.
            payment = _settle_charge(payment.pk, gateway_for(method).charge(
                key=payment.provider_key, tenant_id=payment.tenant_id, method=method, amount=rounded))
    return payment


def _replay_charge(payment: Payment, fingerprint: str) -> PaymentInfo:
    if payment.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key was already used for a different amount, currency or method.",
                                  payment_id=str(payment.id))
    if payment.status == PaymentStatus.PENDING:
        grace = timedelta(seconds=settings.PAYMENT_PENDING_GRACE_SECONDS)
        payment = _resolve_charge(payment, definitive_not_found=timezone.now() - payment.created_at >= grace)
        if payment.status == PaymentStatus.PENDING:
            raise PaymentAmbiguous("The payment's outcome is not known yet. Retry later with the same key.",
                                   payment_id=str(payment.id))
    return _outcome(payment)


def _outcome(payment: Payment) -> PaymentInfo:
    if payment.status == PaymentStatus.DECLINED:
        raise PaymentDeclined(f"The payment was declined ({payment.decline_reason}).", payment_id=str(payment.id),
                              reason=payment.decline_reason)
    if payment.status == PaymentStatus.FAILED:
        raise PaymentFailed(f"The payment failed ({payment.decline_reason}); nothing was charged.",
                            payment_id=str(payment.id), reason=payment.decline_reason)
    if payment.status == PaymentStatus.PENDING:
        raise PaymentAmbiguous("The provider's outcome is unknown; the payment stays pending and is resolved "
                               "by lookup. Retry later with the same key; never charge with a new key.",
                               payment_id=str(payment.id))
    return payment_info(payment)


def _send_charge(payment: Payment) -> PaymentInfo:
    gateway = gateway_for(payment.method)
    due = Money(payment.amount + payment.rounding_adjustment, payment.currency)
    try:
        result = gateway.charge(key=payment.provider_key, tenant_id=payment.tenant_id, method=payment.method,
                                amount=due)
    except GatewayAmbiguous as exc:
        logger.warning("charge outcome unknown, looking it up", extra={"payment_id": str(payment.id)})
        _note(Payment, payment.pk, str(exc))
        payment = _resolve_charge(payment, definitive_not_found=True)
        return _outcome(payment)
    return _outcome(_settle_charge(payment.pk, result))


def _lookup(fn, **kwargs) -> ProviderResult | None:
    """Ask the provider, a few times with a short backoff. None when it cannot be asked."""
    for attempt in range(LOOKUP_ATTEMPTS):
        try:
            return fn(**kwargs)
        except GatewayUnavailable:
            if attempt + 1 < LOOKUP_ATTEMPTS:
                time.sleep(LOOKUP_BACKOFF_MS / 1000 * (2**attempt))
    return None


def _note(model, pk, error: str) -> None:
    with transaction.atomic(using=DB):
        if model is Payment:
            model.objects.using(DB).filter(pk=pk).update(last_error=error[:300], lookup_attempts=F("lookup_attempts") + 1)
        else:
            model.objects.using(DB).filter(pk=pk).update(failure_reason=error[:300])


def _resolve_charge(payment: Payment, *, definitive_not_found: bool) -> Payment:
    """Settle a pending payment by looking the charge up. Never charges. Returns the payment as it now is."""
    gateway = gateway_for(payment.method)
    result = _lookup(gateway.lookup_charge, key=payment.provider_key, tenant_id=payment.tenant_id,
                     method=payment.method)
    if result is None:
        _note(Payment, payment.pk, "lookup unavailable")
        return Payment.objects.using(DB).get(pk=payment.pk)
    if result.outcome == "not_found":
        if not definitive_not_found:
            return Payment.objects.using(DB).get(pk=payment.pk)
        result = ProviderResult("failed", reason="not_received_by_provider")
    return _settle_charge(payment.pk, result)


def _settle_charge(payment_id: uuid.UUID, result: ProviderResult) -> Payment:
    """Record the provider's answer once (the first answer wins) with its event."""
    with transaction.atomic(using=DB):
        if result.outcome == "approved" and (payment := _capture_pending(payment_id, result)) is not None:
            return payment
        payment = Payment.objects.using(DB).select_for_update().get(pk=payment_id)
        late_capture = payment.status == PaymentStatus.FAILED and result.outcome == "approved"
        if payment.status != PaymentStatus.PENDING and not late_capture:
            return payment
        if late_capture:
            # The provider's ledger is the truth: money was taken after we gave up on it.
            logger.error("provider captured a payment recorded as failed", extra={"payment_id": str(payment.id)})
        payment.provider_reference = result.reference or payment.provider_reference
        payment.version += 1
        event = None
        if result.outcome == "approved":
            payment.status = PaymentStatus.CAPTURED
            payment.captured_amount = payment.amount + payment.rounding_adjustment
            payment.captured_at = timezone.now()
            payment.decline_reason = ""
            _count_in_open_shift(payment)
            event = _captured(payment)
        elif result.outcome == "declined":
            payment.status = PaymentStatus.DECLINED
            payment.decline_reason = result.reason or "declined"
            event = PaymentDeclinedEvent(payment_id=str(payment.id), amount=payment.amount, currency=payment.currency,
                                         method=payment.method, reason=payment.decline_reason,
                                         reference=payment.reference)
        else:
            payment.status = PaymentStatus.FAILED
            payment.decline_reason = result.reason or "failed"
            event = PaymentFailedEvent(payment_id=str(payment.id), amount=payment.amount, currency=payment.currency,
                                       method=payment.method, reason=payment.decline_reason,
                                       reference=payment.reference)
        payment.save(using=DB)
        publish(event, tenant_id=payment.tenant_id, using=DB)
    return payment


def _capture_pending(payment_id: uuid.UUID, result: ProviderResult) -> Payment | None:
    """The common answer, a capture of a pending payment, in one conditional UPDATE answering the row (None
    when the payment is no longer pending: `_settle_charge` then decides under the row's lock)."""
    now = timezone.now()
    payment = update_where(
        Payment, using=DB, where={"pk": payment_id, "status": PaymentStatus.PENDING}, returning=True, values={
            "status": PaymentStatus.CAPTURED, "captured_amount": F("amount") + F("rounding_adjustment"),
            "captured_at": now, "decline_reason": "", "version": F("version") + 1, "updated_at": now,
            **({"provider_reference": result.reference} if result.reference else {})})
    if payment is None:
        return None
    shift = (payment.shift_id, payment.late_for_shift_id)
    _count_in_open_shift(payment)
    if (payment.shift_id, payment.late_for_shift_id) != shift:
        Payment.objects.using(DB).filter(pk=payment.pk).update(shift_id=payment.shift_id,
                                                               late_for_shift_id=payment.late_for_shift_id)
    # The last statement of `_settle_charge`'s transaction: the COMMIT may go with it.
    publish(_captured(payment), tenant_id=payment.tenant_id, using=DB, commit=True)
    return payment


def _captured(payment: Payment) -> PaymentCapturedEvent:
    return PaymentCapturedEvent(payment_id=str(payment.id), amount=payment.captured_amount, currency=payment.currency,
                                method=payment.method, reference=payment.reference)


# --- refunds -------------------------------------------------------------------------------------------------


def payment_refund(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID, amount: Money, idempotency_key: str,
                   reason: str, actor: str = "", terminal_id: str = "") -> RefundInfo:
    """Refund part or all of a captured payment once per key. See api.refund for the promise and the errors."""
    key = _check_key(idempotency_key)
    amount = _check_money(amount, "amount")
    reason = (reason or "").strip()
    if not reason:
        raise InvalidAmount("A refund needs a reason.", field="reason")
    fingerprint = _digest(payment_id, amount.amount, amount.currency)
    try:
        pk = uuid.UUID(str(payment_id))
    except ValueError:
        raise PaymentNotFound(f"No payment {payment_id}.", payment_id=str(payment_id)) from None
    with tenant_context(tenant_id):
        existing = Refund.objects.using(DB).filter(idempotency_key=key).first()
        if existing is not None:
            return _replay_refund(existing, fingerprint)
        payment = Payment.objects.using(DB).filter(pk=pk).first()
        if payment is None:
            raise PaymentNotFound(f"No payment {payment_id}.", payment_id=str(payment_id))
        if amount.currency != payment.currency:
            raise InvalidAmount(f"The payment is in {payment.currency}, not {amount.currency}.", field="currency")
        if amount.amount <= 0:
            raise InvalidAmount("The refund must be more than zero.", field="amount")
        try:
            with transaction.atomic(using=DB):
                # The row lock (PostgreSQL) or the write lock (SQLite) serializes refunds of one payment, and the
                # conditional update below would refuse an over-refund even without it.
                payment = Payment.objects.using(DB).select_for_update().get(pk=pk)
                # A retry with the same key may have waited on the lock for the first request: answer as it did.
                raced = Refund.objects.using(DB).filter(idempotency_key=key).first()
                if raced is not None:
                    raise _SameKeyRaced(raced)
                refundable = payment.refundable_amount
                if payment.status not in REFUNDABLE_STATUSES and payment.status != PaymentStatus.REFUNDED:
                    raise NotRefundable(f"A {payment.status} payment cannot be refunded.", payment_id=str(payment.id),
                                        payment_status=payment.status)
                if amount.amount > refundable:
                    raise OverRefund(f"At most {Money(max(refundable, 0), payment.currency)} can be refunded.",
                                     payment_id=str(payment.id), refundable=max(refundable, 0),
                                     currency=payment.currency)
                reserved = Payment.objects.using(DB).filter(
                    pk=pk, status__in=REFUNDABLE_STATUSES,
                    captured_amount__gte=F("refunded_amount") + F("refund_pending_amount") + amount.amount,
                ).update(refund_pending_amount=F("refund_pending_amount") + amount.amount, version=F("version") + 1,
                         updated_at=timezone.now())
                if not reserved:
                    raise OverRefund("The refund exceeds what is left to refund.", payment_id=str(payment.id),
                                     refundable=0, currency=payment.currency)
                # The money leaves the refunding terminal's drawer (else the payment's) and counts in its open
                # shift; a refund of a payment whose shift has closed says so.
                drawer_id = drawer_of_terminal(terminal_id=terminal_id) or payment.drawer_id
                shift = _open_shift_for_update(drawer_id)
                late_for = None
                if payment.shift_id and (shift is None or shift.id != payment.shift_id):
                    payment_shift_open = Shift.objects.using(DB).filter(pk=payment.shift_id,
                                                                        status=ShiftStatus.OPEN).exists()
                    late_for = None if payment_shift_open else payment.shift_id
                refund = Refund(tenant_id=payment.tenant_id, payment_id=payment.id, amount=amount.amount,
                                currency=amount.currency, reason=reason[:300], idempotency_key=key,
                                fingerprint=fingerprint, provider_key=_provider_key("rfd", payment.tenant_id, key),
                                actor=actor[:150], terminal_id=str(terminal_id or "")[:64], drawer_id=drawer_id,
                                shift_id=shift.id if shift else None, late_for_shift_id=late_for)
                refund.save(using=DB, force_insert=True)
                if payment.method == "cash":
                    # Cash leaves the drawer at once: settled in the same transaction, under the shift's lock.
                    refund = _settle_refund(refund.pk, gateway_for("cash").refund(
                        key=refund.provider_key, tenant_id=refund.tenant_id, method="cash",
                        charge_reference=payment.provider_reference, amount=Money(refund.amount, refund.currency)))
        except _SameKeyRaced as raced:
            return _replay_refund(raced.refund, fingerprint)
        except IntegrityError:
            return _replay_refund(Refund.objects.using(DB).get(idempotency_key=key), fingerprint)
        if refund.status != RefundStatus.PENDING:
            return _refund_outcome(refund)
        return _send_refund(refund, payment)


class _SameKeyRaced(Exception):
    def __init__(self, refund: Refund) -> None:
        super().__init__(str(refund.pk))
        self.refund = refund


def _replay_refund(refund: Refund, fingerprint: str) -> RefundInfo:
    if refund.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key was already used for a different refund.",
                                  refund_id=str(refund.id))
    if refund.status == RefundStatus.PENDING:
        grace = timedelta(seconds=settings.PAYMENT_PENDING_GRACE_SECONDS)
        refund = _resolve_refund(refund, definitive_not_found=timezone.now() - refund.created_at >= grace)
    return _refund_outcome(refund)


def _refund_outcome(refund: Refund) -> RefundInfo:
    if refund.status == RefundStatus.FAILED:
        raise RefundFailed(f"The refund failed ({refund.failure_reason}); nothing was refunded.",
                           refund_id=str(refund.id), payment_id=str(refund.payment_id), reason=refund.failure_reason)
    if refund.status == RefundStatus.PENDING:
        raise PaymentAmbiguous("The refund's outcome is unknown; it stays pending and is resolved by lookup. "
                               "Retry later with the same key.", payment_id=str(refund.payment_id),
                               refund_id=str(refund.id))
    return refund_info(refund)


def _send_refund(refund: Refund, payment: Payment) -> RefundInfo:
    gateway = gateway_for(payment.method)
    try:
        result = gateway.refund(key=refund.provider_key, tenant_id=refund.tenant_id, method=payment.method,
                                charge_reference=payment.provider_reference,
                                amount=Money(refund.amount, refund.currency))
    except GatewayAmbiguous as exc:
        logger.warning("refund outcome unknown, looking it up", extra={"refund_id": str(refund.id)})
        _note(Refund, refund.pk, str(exc))
        return _refund_outcome(_resolve_refund(refund, definitive_not_found=True))
    return _refund_outcome(_settle_refund(refund.pk, result))


def _resolve_refund(refund: Refund, *, definitive_not_found: bool) -> Refund:
    method = Payment.objects.using(DB).values_list("method", flat=True).get(pk=refund.payment_id)
    gateway = gateway_for(method)
    result = _lookup(gateway.lookup_refund, key=refund.provider_key, tenant_id=refund.tenant_id, method=method)
    if result is None or (result.outcome == "not_found" and not definitive_not_found):
        return Refund.objects.using(DB).get(pk=refund.pk)
    if result.outcome == "not_found":
        result = ProviderResult("failed", reason="not_received_by_provider")
    return _settle_refund(refund.pk, result)


def _settle_refund(refund_id: uuid.UUID, result: ProviderResult) -> Refund:
    with transaction.atomic(using=DB):
        refund = Refund.objects.using(DB).select_for_update().get(pk=refund_id)
        if refund.status != RefundStatus.PENDING:
            return refund
        payment = Payment.objects.using(DB).select_for_update().get(pk=refund.payment_id)
        payment.refund_pending_amount -= refund.amount
        payment.version += 1
        if result.outcome == "approved":
            refund.status = RefundStatus.SUCCEEDED
            refund.provider_reference = result.reference
            _count_in_open_shift(refund)
            payment.refunded_amount += refund.amount
            payment.status = (PaymentStatus.REFUNDED if payment.refunded_amount >= payment.captured_amount
                              else PaymentStatus.PARTIALLY_REFUNDED)
        else:
            refund.status = RefundStatus.FAILED
            refund.failure_reason = result.reason or "failed"
        refund.save(using=DB)
        payment.save(using=DB)
        if refund.status == RefundStatus.SUCCEEDED:
            publish(PaymentRefundedEvent(payment_id=str(payment.id), refund_id=str(refund.id), amount=refund.amount,
                                         currency=refund.currency, total_refunded=payment.refunded_amount,
                                         reason=refund.reason, reference=payment.reference),
                    tenant_id=payment.tenant_id, using=DB)
    return refund


# --- recovery ------------------------------------------------------------------------------------------------


def payment_resolve_pending(*, older_than_seconds: int | None = None, limit: int = 200) -> dict[str, int]:
    """Settle pending payments and refunds by lookup with the provider (never by charging again).

    Only rows older than the grace period are touched, so a call still in flight is left alone."""
    grace = settings.PAYMENT_PENDING_GRACE_SECONDS if older_than_seconds is None else older_than_seconds
    cutoff = timezone.now() - timedelta(seconds=grace)
    counts = {"payments_settled": 0, "payments_pending": 0, "refunds_settled": 0, "refunds_pending": 0}
    with all_tenants():
        payments = list(Payment.objects.using(DB).filter(status=PaymentStatus.PENDING, created_at__lte=cutoff)
                        .order_by("updated_at")[:limit])
        refunds = list(Refund.objects.using(DB).filter(status=RefundStatus.PENDING, created_at__lte=cutoff)
                       .order_by("updated_at")[:limit])
    for payment in payments:
        with tenant_context(payment.tenant_id):
            settled = _resolve_charge(payment, definitive_not_found=True)
        counts["payments_settled" if settled.status != PaymentStatus.PENDING else "payments_pending"] += 1
    for refund in refunds:
        with tenant_context(refund.tenant_id):
            settled_refund = _resolve_refund(refund, definitive_not_found=True)
        counts["refunds_settled" if settled_refund.status != RefundStatus.PENDING else "refunds_pending"] += 1
    if counts["payments_settled"] or counts["refunds_settled"]:
        logger.info("pending payments resolved", extra=counts)
    return counts


# --- cash drawers and shifts ---------------------------------------------------------------------------------
#
# Lock order, everywhere: payment (or refund, then its payment) before shift. A close locks only its shift and
# reads the rest, so a sale either committed before the close read its totals or sees the shift closed.


def _open_shift_for_update(drawer_id: uuid.UUID | None) -> Shift | None:
    """The drawer's open shift, locked until the surrounding transaction ends. None if it has none.

    On PostgreSQL a close that commits while we wait drops the row from our answer; a shift opened meanwhile is
    found by asking once more (a new statement sees it)."""
    if drawer_id is None:
        return None
    for _ in range(3):
        shift = Shift.objects.using(DB).select_for_update().filter(drawer_id=drawer_id, status=ShiftStatus.OPEN).first()
        if shift is not None:
            return shift
        if not Shift.objects.using(DB).filter(drawer_id=drawer_id, status=ShiftStatus.OPEN).exists():
            return None
    return None


def _count_in_open_shift(row: Payment | Refund) -> None:
    """A payment or refund settled after its shift closed counts in the drawer's current shift (or none) and keeps
    the closed one in `late_for_shift`. Runs inside the settling transaction, the row already locked."""
    if row.shift_id is None:
        return
    status = (Shift.objects.using(DB).select_for_update().filter(pk=row.shift_id)
              .values_list("status", flat=True).first())
    if status == ShiftStatus.OPEN:
        return
    current = _open_shift_for_update(row.drawer_id)
    row.late_for_shift_id = row.late_for_shift_id or row.shift_id
    row.shift_id = current.id if current else None
    logger.info("settled after its shift closed; counted in the current shift",
                extra={"row_id": str(row.pk), "late_for_shift_id": str(row.late_for_shift_id),
                       "shift_id": str(row.shift_id) if row.shift_id else None})


def _uuid_or_none(value: object) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def _shift_money(value: object, field: str, currency: str, *, allow_zero: bool) -> int:
    money = _check_money(value, field)
    if money.currency != currency:
        raise InvalidAmount(f"This restaurant counts in {currency}, not {money.currency}.", field=field,
                            currency=currency)
    if money.amount < 0 or (money.amount == 0 and not allow_zero):
        raise InvalidAmount(f"{field} must be {'zero or more' if allow_zero else 'more than zero'}.", field=field)
    if money.amount > MAX_AMOUNT_MINOR:
        raise InvalidAmount(f"{money} is above the cap.", field=field)
    return money.amount


def _terminal_drawer(terminal_id: uuid.UUID, terminal_name: str) -> CashDrawer:
    """The terminal's drawer; a terminal without one gets a drawer of its own, named after it."""
    link = DrawerTerminal.objects.using(DB).select_related("drawer").filter(terminal_id=terminal_id).first()
    if link is not None:
        return link.drawer
    base = (terminal_name or f"Terminal {str(terminal_id)[:8]}")[:80]
    for name in (base, f"{base} ({str(terminal_id)[:8]})"):
        try:
            with transaction.atomic(using=DB):
                drawer = CashDrawer(name=name)
                drawer.save(using=DB, force_insert=True)
                DrawerTerminal(drawer=drawer, terminal_id=terminal_id,
                               terminal_name=terminal_name[:100] or name).save(using=DB, force_insert=True)
            return drawer
        except IntegrityError:
            link = DrawerTerminal.objects.using(DB).select_related("drawer").filter(terminal_id=terminal_id).first()
            if link is not None:  # a concurrent first opening created it
                return link.drawer
    raise InvalidShiftRequest(f"A drawer named {base!r} already exists; assign this terminal to a drawer in the "
                              "admin.", field="drawer_id")


def _check_drawer_access(drawer_id: uuid.UUID, terminal_id: str, any_drawer: bool) -> None:
    if any_drawer:
        return
    if drawer_of_terminal(terminal_id=terminal_id) != drawer_id:
        raise NotYourDrawer("This terminal is not assigned to that cash drawer; a manager's terminal can act on "
                            "any drawer.", drawer_id=str(drawer_id))


def shift_open(*, tenant_id: uuid.UUID, opening_float: Money, idempotency_key: str, actor: str,
               terminal_id: str = "", terminal_name: str = "", drawer_id: str | uuid.UUID | None = None,
               any_drawer: bool = False, note: str = "") -> ShiftInfo:
    """Open a shift on a drawer with its opening float, once per key. See api.open_shift."""
    key = _check_key(idempotency_key)
    tenant = accounts.get_tenant(tenant_id)
    float_minor = _shift_money(opening_float, "opening_float", tenant.currency, allow_zero=True)
    note = str(note or "").strip()[:300]
    fingerprint = _digest(float_minor, opening_float.currency, drawer_id or "", note)
    with tenant_context(tenant.id):
        existing = Shift.objects.using(DB).filter(open_key=key).first()
        if existing is not None:
            return _replay_open(existing, fingerprint)
        if drawer_id:
            drawer = CashDrawer.objects.using(DB).filter(pk=_uuid_or_none(drawer_id)).first()
            if drawer is None:
                raise DrawerNotFound(f"No cash drawer {drawer_id}.", drawer_id=str(drawer_id))
            _check_drawer_access(drawer.id, terminal_id, any_drawer)
        else:
            terminal = _uuid_or_none(terminal_id)
            if terminal is None:
                raise InvalidShiftRequest("Name the cash drawer (drawer_id).", field="drawer_id")
            drawer = _terminal_drawer(terminal, terminal_name)
        open_now = Shift.objects.using(DB).filter(drawer_id=drawer.id, status=ShiftStatus.OPEN).first()
        if open_now is not None:
            if open_now.open_key == key:  # the same request, retried while the first was committing
                return _replay_open(open_now, fingerprint)
            raise _already_open(open_now)
        shift = Shift(drawer=drawer, currency=tenant.currency, opening_float=float_minor, opened_by=actor[:150],
                      opened_by_terminal_id=str(terminal_id or "")[:64], open_key=key, open_fingerprint=fingerprint,
                      note=note)
        try:
            with transaction.atomic(using=DB):
                shift.save(using=DB, force_insert=True)
        except IntegrityError:
            raced = Shift.objects.using(DB).filter(open_key=key).first()
            if raced is not None:
                return _replay_open(raced, fingerprint)
            open_now = Shift.objects.using(DB).filter(drawer_id=drawer.id, status=ShiftStatus.OPEN).first()
            if open_now is None:
                raise
            raise _already_open(open_now) from None
        logger.info("shift opened", extra={"shift_id": str(shift.id), "drawer_id": str(drawer.id),
                                           "opening_float": float_minor})
        return shift_info(shift)


def _already_open(shift: Shift) -> ShiftAlreadyOpen:
    return ShiftAlreadyOpen(f"The drawer {shift.drawer.name!r} already has a shift open since "
                            f"{shift.opened_at:%Y-%m-%d %H:%M} (by {shift.opened_by}); close it first.",
                            shift_id=str(shift.id), drawer_id=str(shift.drawer_id))


def _replay_open(shift: Shift, fingerprint: str) -> ShiftInfo:
    if shift.open_fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key already opened a shift with a different float, drawer or "
                                  "note.", shift_id=str(shift.id))
    return shift_info(shift)


def _locked_shift(shift_id: str | uuid.UUID) -> Shift:
    pk = _uuid_or_none(shift_id)
    shift = Shift.objects.using(DB).select_for_update().filter(pk=pk).first() if pk else None
    if shift is None:
        raise ShiftNotFound(f"No shift {shift_id}.", shift_id=str(shift_id))
    return shift


def _closed(shift: Shift) -> ShiftClosed:
    return ShiftClosed(f"This shift was closed at {shift.closed_at:%Y-%m-%d %H:%M} by {shift.closed_by} and cannot "
                       "change; record a correction as a cash movement in the current shift.",
                       shift_id=str(shift.id), closed_at=shift.closed_at.isoformat())


def shift_cash_movement(*, tenant_id: uuid.UUID, shift_id: str | uuid.UUID, kind: str, amount: Money, reason: str,
                        idempotency_key: str, actor: str, terminal_id: str = "",
                        any_drawer: bool = False) -> CashMovementInfo:
    """Record cash put in or taken out of an open shift's drawer, once per key. See api.record_cash_movement."""
    key = _check_key(idempotency_key)
    if kind not in MovementKind.values:
        raise InvalidShiftRequest("kind must be 'in' or 'out'.", field="kind")
    reason = str(reason or "").strip()
    if not reason:
        raise InvalidShiftRequest("A cash movement needs a reason.", field="reason")
    tenant = accounts.get_tenant(tenant_id)
    minor = _shift_money(amount, "amount", tenant.currency, allow_zero=False)
    fingerprint = _digest(shift_id, kind, minor, amount.currency, reason)
    with tenant_context(tenant.id):
        existing = CashMovement.objects.using(DB).filter(idempotency_key=key).first()
        if existing is not None:
            return _replay_movement(existing, fingerprint)
        try:
            with transaction.atomic(using=DB):
                shift = _locked_shift(shift_id)
                _check_drawer_access(shift.drawer_id, terminal_id, any_drawer)
                if shift.status != ShiftStatus.OPEN:
                    raise _closed(shift)
                movement = CashMovement(shift=shift, kind=kind, amount=minor, currency=shift.currency,
                                        reason=reason[:300], actor=actor[:150], terminal_id=str(terminal_id or "")[:64],
                                        idempotency_key=key, fingerprint=fingerprint)
                movement.save(using=DB, force_insert=True)
        except IntegrityError:
            return _replay_movement(CashMovement.objects.using(DB).get(idempotency_key=key), fingerprint)
        logger.info("cash movement", extra={"shift_id": str(shift.id), "kind": kind, "amount": minor})
        return movement_info(movement)


def _replay_movement(movement: CashMovement, fingerprint: str) -> CashMovementInfo:
    if movement.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key already recorded a different cash movement.",
                                  movement_id=str(movement.id))
    return movement_info(movement)


def _check_counted(counted: object, methods: list[str], currency: str) -> dict[str, int]:
    if not isinstance(counted, dict) or not counted:
        raise InvalidShiftRequest("counted must map each payment method to the amount counted.", field="counted")
    result: dict[str, int] = {}
    for method, value in counted.items():
        if method not in methods:
            raise InvalidShiftRequest(f"{method!r} is not a payment method of this restaurant "
                                      f"({', '.join(methods)}).", field=f"counted.{method}")
        result[method] = _shift_money(value, f"counted.{method}", currency, allow_zero=True)
    if "cash" in methods and "cash" not in result:
        raise InvalidShiftRequest("Count the cash in the drawer (counted.cash).", field="counted.cash")
    return dict(sorted(result.items()))


def shift_close(*, tenant_id: uuid.UUID, shift_id: str | uuid.UUID, counted: dict[str, Money],
                idempotency_key: str, actor: str, terminal_id: str = "", any_drawer: bool = False,
                note: str = "") -> ShiftReport:
    """Close an open shift with the amounts counted per method and keep its Z report. See api.close_shift."""
    key = _check_key(idempotency_key)
    tenant = accounts.get_tenant(tenant_id)
    methods = accepted_methods(tenant_payment_methods=tenant.payment_methods)
    counted_minor = _check_counted(counted, methods, tenant.currency)
    note = str(note or "").strip()[:300]
    fingerprint = _digest(shift_id, sorted(counted_minor.items()), note)
    with tenant_context(tenant.id), transaction.atomic(using=DB):
        shift = _locked_shift(shift_id)
        _check_drawer_access(shift.drawer_id, terminal_id, any_drawer)
        if shift.status != ShiftStatus.OPEN:
            if shift.close_key == key:
                if shift.close_fingerprint != fingerprint:
                    raise IdempotencyConflict("This idempotency key already closed the shift with other counts.",
                                              shift_id=str(shift.id))
                return report_from_json(shift.z_report, shift_info(shift))
            raise _closed(shift)
        shift.status = ShiftStatus.CLOSED
        shift.closed_at = timezone.now()
        shift.closed_by = actor[:150]
        shift.closed_by_terminal_id = str(terminal_id or "")[:64]
        shift.close_key, shift.close_fingerprint, shift.close_note = key, fingerprint, note
        report = shift_compute_report(shift=shift, methods=methods, counted=counted_minor, kind="Z")
        cash = next(line for line in report.methods if line.method == "cash") if "cash" in counted_minor else None
        shift.counted = counted_minor
        shift.expected_cash = report.cash.expected.amount
        shift.counted_cash = cash.counted.amount if cash else None
        shift.cash_difference = cash.difference.amount if cash else None
        shift.version += 1
        report = dataclasses.replace(report, shift=shift_info(shift))
        shift.z_report = report_to_json(report)
        shift.save(using=DB)
    logger.info("shift closed", extra={"shift_id": str(shift.id), "expected_cash": shift.expected_cash,
                                       "counted_cash": shift.counted_cash, "cash_difference": shift.cash_difference})
    return report


# --- drawers (the admin) -------------------------------------------------------------------------------------


def drawer_create(*, tenant_id: uuid.UUID, name: str) -> DrawerInfo:
    name = str(name or "").strip()[:100]
    if not name:
        raise InvalidShiftRequest("A drawer needs a name.", field="name")
    with tenant_context(tenant_id):
        try:
            with transaction.atomic(using=DB):
                drawer = CashDrawer(name=name)
                drawer.save(using=DB, force_insert=True)
        except IntegrityError:
            raise InvalidShiftRequest(f"There is already a drawer named {name!r}.", field="name") from None
        return DrawerInfo(id=str(drawer.id), name=drawer.name, terminals=(), open_shift_id=None)


def drawer_assign_terminal(*, tenant_id: uuid.UUID, drawer_id: str | uuid.UUID, terminal_id: str | uuid.UUID) -> None:
    """Put a terminal's cash into this drawer (moving it from any other). The terminal must be the tenant's."""
    terminals = {str(t.id): t for t in accounts.list_terminals(tenant_id=tenant_id)}
    terminal = terminals.get(str(terminal_id))
    if terminal is None:
        raise InvalidShiftRequest(f"No active terminal {terminal_id} in this restaurant.", field="terminal_id")
    with tenant_context(tenant_id), transaction.atomic(using=DB):
        drawer = CashDrawer.objects.using(DB).filter(pk=_uuid_or_none(drawer_id)).first()
        if drawer is None:
            raise DrawerNotFound(f"No cash drawer {drawer_id}.", drawer_id=str(drawer_id))
        DrawerTerminal.objects.using(DB).filter(terminal_id=terminal.id).exclude(drawer=drawer).delete()
        DrawerTerminal.objects.using(DB).update_or_create(
            terminal_id=terminal.id, defaults={"drawer": drawer, "terminal_name": terminal.name[:100],
                                               "tenant_id": tenant_id})


# --- historical imports (legacy splits) ------------------------------------------------------------------------
# Payments settled long ago are recorded as they were, without calling any provider: one transaction and a
# constant number of statements per batch, idempotent by the caller's key (the payment id is derived from it).

IMPORT_NAMESPACE = uuid.UUID("5f0c8a34-2a7e-4d0b-9c61-3b1f7e0d5a90")


def imported_payment_id(tenant_id: uuid.UUID, key: str) -> uuid.UUID:
    """The id a payment imported under `key` has: stable, so a repeated import finds it."""
    return uuid.uuid5(IMPORT_NAMESPACE, f"{tenant_id}:payment:{key}")


def imported_refund_id(tenant_id: uuid.UUID, key: str) -> uuid.UUID:
    """The id a refund imported under `key` has."""
    return uuid.uuid5(IMPORT_NAMESPACE, f"{tenant_id}:refund:{key}")


def _import_problems(payments: list, currency: str) -> list[dict[str, str]]:
    from datetime import datetime

    errors: list[dict[str, str]] = []

    def bad(at: str, message: str) -> None:
        errors.append({"field": at, "message": message})

    def amount_ok(value: object) -> bool:
        return is_integer(value) and 0 < value <= MAX_AMOUNT_MINOR

    seen: set[str] = set()
    for index, entry in enumerate(payments):
        at = f"payments[{index}]"
        if not isinstance(entry, dict):
            bad(at, "Each payment is an object.")
            continue
        key = entry.get("key")
        if not isinstance(key, str) or not key.strip() or len(key) > MAX_KEY_LENGTH:
            bad(f"{at}.key", "A key of 1 to 255 characters.")
        elif key in seen:
            bad(f"{at}.key", f"Duplicate key {key!r} in the batch.")
        seen.add(key if isinstance(key, str) else "")
        if entry.get("method") not in METHODS:
            bad(f"{at}.method", f"One of {', '.join(METHODS)}.")
        if entry.get("currency") != currency:
            bad(f"{at}.currency", f"The restaurant's currency is {currency}.")
        if not amount_ok(entry.get("amount")):
            bad(f"{at}.amount", "A whole number of minor units above 0.")
        captured_at = entry.get("captured_at")
        if not isinstance(captured_at, datetime) or captured_at.tzinfo is None:
            bad(f"{at}.captured_at", "A time with its time zone.")
        refunded = 0
        for r_index, refund in enumerate(entry.get("refunds") or []):
            r_at = f"{at}.refunds[{r_index}]"
            if not isinstance(refund, dict):
                bad(r_at, "Each refund is an object.")
                continue
            if not isinstance(refund.get("key"), str) or not refund["key"].strip() or len(refund["key"]) > 255:
                bad(f"{r_at}.key", "A key of 1 to 255 characters.")
            if not amount_ok(refund.get("amount")):
                bad(f"{r_at}.amount", "A whole number of minor units above 0.")
            else:
                refunded += refund["amount"]
            created_at = refund.get("created_at")
            if not isinstance(created_at, datetime) or created_at.tzinfo is None:
                bad(f"{r_at}.created_at", "A time with its time zone.")
        if amount_ok(entry.get("amount")) and refunded > entry["amount"]:
            bad(f"{at}.refunds", f"Refunds ({refunded}) exceed the payment ({entry['amount']}).")
    return errors


def payments_import(*, tenant_id: uuid.UUID, payments: list[dict], source: str) -> tuple[dict[str, str], list[str],
                                                                                           list[str]]:
    from pos.contracts.payment import PaymentHistoryImported
    from pos.events import publish_many

    from .errors import InvalidImport

    tenant = accounts.get_tenant(tenant_id)
    tenant_id = tenant.id
    payments = list(payments)
    errors = _import_problems(payments, tenant.currency)
    if errors:
        fields = ", ".join(dict.fromkeys(e["field"] for e in errors))
        raise InvalidImport(f"The payment batch is invalid: {fields}.", errors=errors)
    ids = {entry["key"]: imported_payment_id(tenant_id, entry["key"]) for entry in payments}
    with transaction.atomic(using=DB), tenant_context(tenant_id):
        existing = set(Payment.objects.using(DB).filter(pk__in=ids.values()).values_list("pk", flat=True))
        refund_keys = [r["key"] for entry in payments if ids[entry["key"]] not in existing
                       for r in entry.get("refunds") or []]
        if len(set(refund_keys)) != len(refund_keys):
            raise InvalidImport("A refund key appears twice in the batch.", errors=[
                {"field": "refunds", "message": "Refund keys are unique."}])
        used = sorted(Refund.objects.using(DB).filter(idempotency_key__in=refund_keys)
                      .values_list("idempotency_key", flat=True))
        if used:
            raise InvalidImport(f"Refund key(s) {', '.join(used[:10])} already belong to other payments.",
                                errors=[{"field": "refunds", "message": f"Key {key!r} is taken."} for key in used])
        rows, refunds = [], []
        for entry in payments:
            pid = ids[entry["key"]]
            if pid in existing:
                continue
            refunded = sum(r["amount"] for r in entry.get("refunds") or [])
            status = (PaymentStatus.CAPTURED if not refunded else
                      PaymentStatus.REFUNDED if refunded >= entry["amount"] else PaymentStatus.PARTIALLY_REFUNDED)
            tendered = entry.get("tendered")
            rows.append(Payment(
                id=pid, tenant_id=tenant_id, method=entry["method"], status=status, currency=tenant.currency,
                amount=entry["amount"], rounding_adjustment=0, captured_amount=entry["amount"],
                refunded_amount=refunded, tendered=tendered if entry["method"] == "cash" else None,
                change_due=(tendered - entry["amount"]) if entry["method"] == "cash" and tendered else None,
                idempotency_key=entry["key"], fingerprint=_digest(entry["amount"], tenant.currency, entry["method"]),
                provider="imported", provider_key=f"imp_{pid.hex}", provider_reference=str(entry.get(
                    "provider_reference", ""))[:100], reference=str(entry.get("reference", ""))[:100],
                captured_at=entry["captured_at"]))
            for refund in entry.get("refunds") or []:
                rid = imported_refund_id(tenant_id, refund["key"])
                refunds.append(Refund(
                    id=rid, tenant_id=tenant_id, payment_id=pid, amount=refund["amount"], currency=tenant.currency,
                    reason=str(refund.get("reason") or "imported refund")[:300], status=RefundStatus.SUCCEEDED,
                    idempotency_key=refund["key"], fingerprint=_digest(pid, refund["amount"], tenant.currency),
                    provider_key=f"imp_{rid.hex}", actor=str(refund.get("actor", ""))[:150],
                    created_at=refund["created_at"]))
        for row in rows:
            row.created_at = row.captured_at  # the time it was really taken, not the time of the import
        copy_insert(Payment, rows, using=DB, keep=["created_at"])
        copy_insert(Refund, refunds, using=DB, keep=["created_at"])
        if rows:
            publish_many([PaymentHistoryImported(
                payments=len(rows), refunds=len(refunds), captured=sum(r.captured_amount for r in rows),
                refunded=sum(r.amount for r in refunds), currency=tenant.currency, source=source[:100])],
                tenant_id=tenant_id, using=DB)
    keys = [entry["key"] for entry in payments]
    return ({key: str(ids[key]) for key in keys}, [k for k in keys if ids[k] not in existing],
            [k for k in keys if ids[k] in existing])


def imported_payments_by_day(*, tenant_id: uuid.UUID, key_prefix: str, tz: str) -> list[dict]:
    """Per day (tenant's time zone) of capture: imported payments whose key starts with `key_prefix`, their sum,
    and the refunds of those payments (count and sum, by the refund's own day)."""
    import zoneinfo

    from django.db.models import Count, Sum
    from django.db.models.functions import TruncDate

    zone = zoneinfo.ZoneInfo(tz)
    days: dict = {}
    refresh_statistics([Payment, Refund], using=DB)
    with tenant_context(tenant_id):
        paid = (Payment.objects.using(DB).filter(idempotency_key__startswith=key_prefix, provider="imported")
                .annotate(day=TruncDate("captured_at", tzinfo=zone)).values("day")
                .annotate(n=Count("id"), total=Sum("captured_amount")))
        for row in paid:
            days.setdefault(row["day"], [0, 0, 0, 0])[0:2] = [row["n"], row["total"] or 0]
        back = (Refund.objects.using(DB).filter(payment__idempotency_key__startswith=key_prefix,
                                                payment__provider="imported")
                .annotate(day=TruncDate("created_at", tzinfo=zone)).values("day")
                .annotate(n=Count("id"), total=Sum("amount")))
        for row in back:
            days.setdefault(row["day"], [0, 0, 0, 0])[2:4] = [row["n"], row["total"] or 0]
    return [{"day": day.isoformat(), "payments": v[0], "captured": v[1], "refunds": v[2], "refunded": v[3]}
            for day, v in sorted(days.items())]
