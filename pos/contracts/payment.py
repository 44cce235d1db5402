"""Events published by payment."""

from __future__ import annotations

from pos.contracts import event


@event("payment.captured", version=1)
class PaymentCaptured:
    payment_id: str
    amount: int  # minor units, what was captured (after cash rounding)
    currency: str
    method: str
    reference: str = ""  # the caller's reference (an order or saga id)


@event("payment.declined", version=1)
class PaymentDeclined:
    payment_id: str
    amount: int
    currency: str
    method: str
    reason: str
    reference: str = ""


@event("payment.failed", version=1)
class PaymentFailed:
    """The provider failed the charge or never received it: nothing was taken. Published also when a payment
    left pending after an ambiguous outcome is resolved later by lookup."""

    payment_id: str
    amount: int
    currency: str
    method: str
    reason: str
    reference: str = ""


@event("payment.refunded", version=1)
class PaymentRefunded:
    payment_id: str
    refund_id: str
    amount: int
    currency: str
    total_refunded: int
    reason: str
    reference: str = ""


@event("payment.history_imported", version=1)
class PaymentHistoryImported:
    """A batch of historical payments (and their refunds) was imported, e.g. from a legacy database. They were
    settled long ago, so no payment.captured or payment.refunded is published for each: this one record per
    batch says what came in."""

    payments: int
    refunds: int
    captured: int  # minor units, sum of the batch's payments
    refunded: int  # minor units, sum of the batch's refunds
    currency: str
    source: str  # who imported it, e.g. "legacy-split"
