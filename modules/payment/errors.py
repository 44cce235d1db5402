"""Errors of the payment module. Each carries what the caller needs to act (payment id, what is left)."""

from pos.errors import Conflict, DomainError, InvalidInput, NotFound, Unprocessable


class PaymentNotFound(NotFound):
    type = "payment-not-found"
    title = "Payment not found"


class PaymentDeclined(DomainError):
    """The provider refused the charge. Nothing was taken. extra: payment_id, reason."""

    status = 402
    type = "payment-declined"
    title = "Payment declined"


class PaymentFailed(PaymentDeclined):
    """The provider failed the charge (error, or the charge never reached it). Nothing was taken.

    A subclass of PaymentDeclined so a caller handling "not charged" handles both."""

    status = 502
    type = "payment-failed"
    title = "Payment failed at the provider"


class PaymentAmbiguous(DomainError):
    """The provider's outcome is unknown even after looking it up. The payment stays pending and is resolved
    later by lookup (`payment.resolve_pending`); never charge again with a new key. extra: payment_id."""

    status = 504
    type = "payment-ambiguous"
    title = "Payment outcome unknown"


class MethodNotAccepted(InvalidInput):
    type = "payment-method-not-accepted"
    title = "Payment method not accepted"


class InvalidAmount(InvalidInput):
    type = "invalid-amount"
    title = "Invalid amount"


class InsufficientTender(InvalidInput):
    type = "insufficient-tender"
    title = "Cash tendered is less than the amount due"


class IdempotencyConflict(Unprocessable):
    """The idempotency key was already used with different parameters (amount, currency, method)."""

    type = "payment-idempotency-conflict"
    title = "Idempotency key reused with different parameters"


class OverRefund(Unprocessable):
    """The refund exceeds what is left to refund. extra: refundable (minor units), currency."""

    type = "over-refund"
    title = "Refund exceeds the refundable amount"


class NotRefundable(Conflict):
    """The payment is not captured (pending, declined or failed) or is already fully refunded."""

    type = "not-refundable"
    title = "Payment cannot be refunded"


class RefundFailed(DomainError):
    """The provider failed the refund. Nothing was refunded; retry with a new key."""

    status = 502
    type = "refund-failed"
    title = "Refund failed at the provider"


class IdempotencyKeyRequired(InvalidInput):
    type = "idempotency-key-required"
    title = "Idempotency key required"
