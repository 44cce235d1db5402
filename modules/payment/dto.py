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


@dataclass(frozen=True)
class RefundInfo:
    id: str
    payment_id: str
    amount: Money
    reason: str
    status: str  # pending | succeeded | failed
    created_at: datetime
    provider_reference: str = ""


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
        refundable=Money(payment.captured_amount - payment.refunded_amount - payment.refund_pending_amount
                         if settled else 0, currency),
        version=payment.version, updated_at=payment.updated_at,
    )


def refund_info(refund) -> RefundInfo:
    return RefundInfo(
        id=str(refund.id), payment_id=str(refund.payment_id), amount=Money(refund.amount, refund.currency),
        reason=refund.reason, status=refund.status, created_at=refund.created_at,
        provider_reference=refund.provider_reference,
    )
