"""Errors of the payment module. Each carries what the caller needs to act (payment id, what is left)."""

from pos.errors import Conflict, DomainError, Forbidden, InvalidInput, NotFound, Unprocessable


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


class ShiftNotFound(NotFound):
    type = "shift-not-found"
    title = "Shift not found"


class DrawerNotFound(NotFound):
    type = "drawer-not-found"
    title = "Cash drawer not found"


class ShiftRequired(Conflict):
    """The restaurant requires an open shift for cash payments and the terminal's drawer has none.
    Nothing was charged or written. extra: terminal_id, drawer_id (None when the terminal has no drawer)."""

    type = "open-shift-required"
    title = "An open shift is required for cash payments"


class ShiftAlreadyOpen(Conflict):
    """The drawer already has an open shift; close it first. extra: shift_id, drawer_id."""

    type = "shift-already-open"
    title = "This drawer already has an open shift"


class ShiftClosed(Conflict):
    """A closed shift cannot change (no cash movement, no second close, no reopening). Corrections are cash
    movements in the current shift. extra: shift_id, closed_at."""

    type = "shift-closed"
    title = "The shift is closed"


class NotYourDrawer(Forbidden):
    """A cashier's terminal acts only on its own drawer's shifts; a manager's on any. extra: drawer_id."""

    type = "not-your-drawer"
    title = "This shift belongs to another cash drawer"


class InvalidShiftRequest(InvalidInput):
    type = "invalid-shift-request"
    title = "Invalid shift request"


class InvalidImport(InvalidInput):
    """A batch of historical payments is malformed; `extra["errors"]` lists `payments[i].field` and why."""

    type = "invalid-payment-import"
    title = "Invalid payment import"
