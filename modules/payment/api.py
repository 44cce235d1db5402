"""The payment module's front door for other modules: plain functions, DTOs only.

Every function is keyword-only, takes the tenant explicitly and returns frozen dataclasses. Errors are
DomainError subclasses re-exported here, so a caller can catch them without importing internals."""

from __future__ import annotations

import uuid

from modules.accounts import api as accounts
from pos.money import Money

from .dto import METHODS, PaymentInfo, RefundInfo
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
from .selectors import accepted_methods as _accepted_methods
from .selectors import payment_get as _payment_get
from .selectors import payment_get_many as _payment_get_many
from .selectors import payment_refunds as _payment_refunds
from .services import payment_charge as _charge
from .services import payment_refund as _refund

__all__ = [
    "METHODS", "IdempotencyConflict", "IdempotencyKeyRequired", "InsufficientTender", "InvalidAmount",
    "MethodNotAccepted", "NotRefundable", "OverRefund", "PaymentAmbiguous", "PaymentDeclined", "PaymentFailed",
    "PaymentInfo", "PaymentNotFound", "RefundFailed", "RefundInfo", "accepted_methods", "charge", "get_payment",
    "get_payments", "get_refunds", "refund",
]


def charge(*, tenant_id: uuid.UUID, amount: Money, method: str, idempotency_key: str, tendered: Money | None = None,
           reference: str = "") -> PaymentInfo:
    """Take `amount` by `method`, once per (tenant, idempotency_key).

    The pending payment and the provider key derived from `idempotency_key` are committed before the provider
    is called; the same key again returns the same PaymentInfo (or raises the same decline) and never charges
    twice. Cash rounds `amount` to the tenant's cash_rounding_unit and records `rounding_adjustment` explicitly:
    captured = amount + rounding_adjustment, change_due = tendered - captured (tendered None: exact cash).
    `reference` (an order or saga id) is stored and carried on the events.

    Publishes payment.captured, payment.declined or payment.failed.
    Raises PaymentDeclined (402, extra payment_id, reason), PaymentFailed (a PaymentDeclined, 502: provider error,
    nothing charged), PaymentAmbiguous (504, extra payment_id: outcome unknown after lookup retries; the payment
    stays pending and payment.resolve_pending settles it; retry with the same key), MethodNotAccepted (400),
    InvalidAmount (400: not Money, zero/negative, other currency, tendered on a non-cash method),
    InsufficientTender (400), IdempotencyConflict (422: same key, different amount/currency/method),
    IdempotencyKeyRequired (400).
    """
    return _charge(tenant_id=tenant_id, amount=amount, method=method, idempotency_key=idempotency_key,
                   tendered=tendered, reference=reference)


def refund(*, tenant_id: uuid.UUID, payment_id: str, amount: Money, idempotency_key: str, reason: str,
           actor: str = "") -> RefundInfo:
    """Refund `amount` of a captured payment, once per (tenant, idempotency_key). Several partial refunds are
    allowed; their sum never exceeds what was captured, also under concurrent requests.

    Publishes payment.refunded. Raises PaymentNotFound (404), OverRefund (422, extra refundable, currency),
    NotRefundable (409: pending, declined or failed payment), InvalidAmount (400: zero, negative, other currency,
    blank reason), IdempotencyConflict (422), RefundFailed (502: provider refused, nothing refunded),
    PaymentAmbiguous (504: refund outcome unknown, stays pending until resolved by lookup).
    """
    return _refund(tenant_id=tenant_id, payment_id=payment_id, amount=amount, idempotency_key=idempotency_key,
                   reason=reason, actor=actor)


def get_payment(*, tenant_id: uuid.UUID, payment_id: str) -> PaymentInfo:
    """One payment of the tenant. Raises PaymentNotFound (also for another tenant's payment)."""
    return _payment_get(tenant_id=tenant_id, payment_id=payment_id)


def get_payments(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, PaymentInfo]:
    """Many payments of the tenant in one query, by id. Unknown ids (or other tenants') are absent."""
    return _payment_get_many(tenant_id=tenant_id, payment_ids=payment_ids)


def get_refunds(*, tenant_id: uuid.UUID, payment_id: str) -> list[RefundInfo]:
    """The refunds of one payment, oldest first (empty for an unknown payment)."""
    return _payment_refunds(tenant_id=tenant_id, payment_id=payment_id)


def accepted_methods(*, tenant_id: uuid.UUID) -> list[str]:
    """The payment methods this tenant accepts. Raises accounts' TenantNotFound."""
    return _accepted_methods(tenant_payment_methods=accounts.get_tenant(tenant_id).payment_methods)
