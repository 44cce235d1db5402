"""Writes of the payment module: each state change is one transaction in the payment database.

A charge is three steps, never one: (1) the pending payment with its provider key is committed, (2) the
provider is called with that key outside any transaction, (3) the outcome is recorded with its event. If the
process dies between (1) and (3), `payment_resolve_pending` finishes the job by lookup. A refund works the same
way, with the refundable amount reserved on the payment under a row lock in step (1)."""

from __future__ import annotations

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
from pos.events import publish
from pos.money import Money
from pos.tenancy import all_tenants, tenant_context

from .dto import METHODS, PaymentInfo, RefundInfo, payment_info, refund_info
from .errors import (
    IdempotencyConflict,
    IdempotencyKeyRequired,
    InsufficientTender,
    InvalidAmount,
    MethodNotAccepted,
    NotRefundable,
    OverRefund,
    PaymentAmbiguous,
    PaymentDeclined,
    PaymentFailed,
    PaymentNotFound,
    RefundFailed,
)
from .gateways import GatewayAmbiguous, GatewayUnavailable, ProviderResult, gateway_for
from .models import REFUNDABLE_STATUSES, Payment, PaymentStatus, Refund, RefundStatus

DB = "payment"
MAX_KEY_LENGTH = 255
MAX_AMOUNT_MINOR = 10**12  # a sanity cap per payment; a typo, not a sale
logger = logging.getLogger("modules.payment")


def _setting(name: str, default):
    return getattr(settings, name, default)


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
                   tendered: Money | None = None, reference: str = "") -> PaymentInfo:
    """Take a payment once per idempotency key. See api.charge for the promise and the errors."""
    key = _check_key(idempotency_key)
    amount = _check_money(amount, "amount")
    if tendered is not None:
        _check_money(tendered, "tendered")
    tenant = accounts.get_tenant(tenant_id)
    fingerprint = _digest(amount.amount, amount.currency, method)
    with tenant_context(tenant.id):
        existing = Payment.objects.using(DB).filter(idempotency_key=key).first()
        if existing is not None:
            return _replay_charge(existing, fingerprint)

        accepted = [m for m in METHODS if m in tenant.payment_methods]
        if method not in accepted:
            raise MethodNotAccepted(f"{method!r} is not accepted here; use one of {', '.join(accepted)}.",
                                    method=str(method), accepted=accepted)
        if amount.currency != tenant.currency:
            raise InvalidAmount(f"This restaurant takes {tenant.currency}, not {amount.currency}.",
                                field="currency", currency=tenant.currency)
        if amount.amount <= 0:
            raise InvalidAmount("The amount must be more than zero.", field="amount")
        if amount.amount > _setting("PAYMENT_MAX_AMOUNT_MINOR", MAX_AMOUNT_MINOR):
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

        payment = Payment(
            tenant_id=tenant.id, method=method, currency=amount.currency, amount=amount.amount,
            rounding_adjustment=rounding.amount, tendered=tendered.amount if tendered is not None else None,
            change_due=change_due, idempotency_key=key, fingerprint=fingerprint,
            provider=gateway_for(method).name, provider_key=_provider_key("pay", tenant.id, key),
            reference=str(reference or "")[:100],
        )
        try:
            with transaction.atomic(using=DB):
                payment.save(using=DB, force_insert=True)
        except IntegrityError:
            # the same key raced us in: the first one owns the charge
            return _replay_charge(Payment.objects.using(DB).get(idempotency_key=key), fingerprint)
        return _send_charge(payment)


def _replay_charge(payment: Payment, fingerprint: str) -> PaymentInfo:
    if payment.fingerprint != fingerprint:
        raise IdempotencyConflict("This idempotency key was already used for a different amount, currency or method.",
                                  payment_id=str(payment.id))
    if payment.status == PaymentStatus.PENDING:
        grace = timedelta(seconds=_setting("PAYMENT_PENDING_GRACE_SECONDS", 30))
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
    attempts = _setting("PAYMENT_LOOKUP_ATTEMPTS", 3)
    backoff = _setting("PAYMENT_LOOKUP_BACKOFF_MS", 20) / 1000
    for attempt in range(attempts):
        try:
            return fn(**kwargs)
        except GatewayUnavailable:
            if attempt + 1 < attempts:
                time.sleep(backoff * (2**attempt))
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
            event = PaymentCapturedEvent(payment_id=str(payment.id), amount=payment.captured_amount,
                                         currency=payment.currency, method=payment.method, reference=payment.reference)
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


# --- refunds -------------------------------------------------------------------------------------------------


def payment_refund(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID, amount: Money, idempotency_key: str,
                   reason: str, actor: str = "") -> RefundInfo:
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
                refundable = payment.captured_amount - payment.refunded_amount - payment.refund_pending_amount
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
                refund = Refund(tenant_id=payment.tenant_id, payment_id=payment.id, amount=amount.amount,
                                currency=amount.currency, reason=reason[:300], idempotency_key=key,
                                fingerprint=fingerprint, provider_key=_provider_key("rfd", payment.tenant_id, key),
                                actor=actor[:150])
                refund.save(using=DB, force_insert=True)
        except _SameKeyRaced as raced:
            return _replay_refund(raced.refund, fingerprint)
        except IntegrityError:
            return _replay_refund(Refund.objects.using(DB).get(idempotency_key=key), fingerprint)
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
        grace = timedelta(seconds=_setting("PAYMENT_PENDING_GRACE_SECONDS", 30))
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
    grace = _setting("PAYMENT_PENDING_GRACE_SECONDS", 30) if older_than_seconds is None else older_than_seconds
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
