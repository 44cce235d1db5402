"""Events published by payment."""

from __future__ import annotations

from pos.contracts import event


@event("payment.captured", version=1)
class PaymentCaptured:
    payment_id: str
    amount: int  # minor units, what was captured (after cash rounding)
    currency: str
    method: str


@event("payment.declined", version=1)
class PaymentDeclined:
    payment_id: str
    amount: int
    currency: str
    method: str
    reason: str


@event("payment.refunded", version=1)
class PaymentRefunded:
    payment_id: str
    refund_id: str
    amount: int
    currency: str
    total_refunded: int
    reason: str
