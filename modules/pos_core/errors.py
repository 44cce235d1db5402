"""Errors of the pos_core module; each carries what a terminal needs to recover in `extra`."""

from __future__ import annotations

from typing import Any

from pos.errors import Conflict, DomainError, InvalidInput, NotFound, StaleVersion, Unprocessable

STOCK_CHANGED_DETAIL = "Stock levels changed. Please refresh and try again."


class InvalidOrder(InvalidInput):
    """The order request is malformed or names things that do not exist; `extra["errors"]` lists each field."""

    type = "invalid-order"
    title = "Invalid order"


class StockChanged(Conflict):
    """Stock moved since the terminal read the catalog; `extra["lines"]` holds the current levels."""

    type = "stock-changed"
    title = "Stock levels changed"

    def __init__(self, lines: list[dict[str, Any]], **extra: Any) -> None:
        super().__init__(STOCK_CHANGED_DETAIL, lines=lines, **extra)


class OrderPaymentDeclined(DomainError):
    status = 402
    type = "payment-declined"
    title = "Payment declined"


class PaymentUnavailable(DomainError):
    """The payment provider's answer is unknown; the saga is kept and finished by recovery or a retry."""

    status = 503
    type = "payment-unavailable"
    title = "Payment outcome not known yet"


class OrderOutcomeUnknown(DomainError):
    """The order's outcome is not known yet (a lost connection, a payment or refund still unresolved); the saga
    is kept and finished by recovery. Not stored as the key's answer: a retry with the same key gets the final
    one. `extra["money"]` says what is known of the money when it matters (refund_pending)."""

    status = 503
    type = "order-outcome-unknown"
    title = "The order's outcome is not known yet"


class OrderExpired(Conflict):
    type = "reservation-expired"
    title = "The stock reservation expired before the order was finished"


class SagaInProgress(Conflict):
    type = "order-in-progress"
    title = "This order is still being placed"


class SagaFailed(DomainError):
    """Replays the problem a finished, compensated saga answered the first time."""

    def __init__(self, problem: dict[str, Any]) -> None:
        data = dict(problem)
        self.status = int(data.pop("status", 409))
        self.type = str(data.pop("type", "order-failed"))
        self.title = str(data.pop("title", "The order could not be placed"))
        super().__init__(data.pop("detail", None), **data)


class SagaNotFound(NotFound):
    type = "saga-not-found"
    title = "Saga not found"


class SagaNotRecoverable(Conflict):
    type = "saga-not-recoverable"
    title = "The saga cannot be driven that way"


class OrderNotFound(NotFound):
    type = "order-not-found"
    title = "Order not found"


class InvalidTransition(Conflict):
    type = "invalid-order-transition"
    title = "The order cannot move to that state"


class StaleOrder(StaleVersion):
    type = "stale-order"
    title = "The order was changed by someone else; reload it"


class RefundRejected(Unprocessable):
    type = "refund-rejected"
    title = "The refund cannot be made"


class AlertNotFound(NotFound):
    type = "alert-not-found"
    title = "Alert not found"


# --- table service -------------------------------------------------------------------------------

class CheckNotOpen(Conflict):
    """The check is not open (paid, cancelled) or is a counter order: it takes no rounds, voids or payments."""

    type = "check-not-open"
    title = "The check is not open"


class CheckIsSplit(Conflict):
    """The check was split: rounds, voids, comps and payments go to its parts."""

    type = "check-split"
    title = "The check was split into parts"


class OrderItemNotFound(NotFound):
    type = "order-item-not-found"
    title = "Order item not found"


class AdjustmentRejected(Unprocessable):
    """A void, comp or discount that the check cannot take (more than is left, below what is paid)."""

    type = "adjustment-rejected"
    title = "The void, comp or discount cannot be made"


class ManagerRequired(DomainError):
    status = 403
    type = "manager-required"
    title = "A manager must do this"


class PaymentExceedsDue(Conflict):
    """More than what is still due (other payments may be in flight); `extra["remaining_due"]`."""

    type = "payment-exceeds-due"
    title = "The payment is more than what is still due"


class SplitRejected(Unprocessable):
    type = "split-rejected"
    title = "The check cannot be split that way"


class TicketNotFound(NotFound):
    type = "kitchen-ticket-not-found"
    title = "Kitchen ticket not found"


class CheckBusy(Conflict):
    """A round or a void of the check is still in flight; retry shortly."""

    type = "check-busy"
    title = "The check is being changed; retry in a moment"


class CheckOutcomeUnknown(DomainError):
    """A database connection was lost in the middle of a table-service step: what was saved before each call to
    another module, and that module's answer by key, let a retry with the same Idempotency-Key (or recovery)
    finish it once."""

    status = 503
    type = "check-outcome-unknown"
    title = "The outcome is not known yet"


class CheckHasPayments(Conflict):
    """A check with money taken (or a payment in flight) is not cancelled: refund it instead."""

    type = "check-has-payments"
    title = "The check has payments"


class InvalidImport(InvalidInput):
    """A batch of historical orders is malformed; `extra["errors"]` lists `orders[i].field` and why."""

    type = "invalid-order-import"
    title = "Invalid order import"


class RefundPending(DomainError):
    """Payment's answer to a refund is not known yet; the refund is finished by recovery or a retry."""

    status = 503
    type = "refund-pending"
    title = "Refund outcome not known yet"
