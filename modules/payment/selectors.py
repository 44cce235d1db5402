"""Reads of the payment module."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.db.models import QuerySet

from pos.tenancy import tenant_context

from .dto import METHODS, PaymentInfo, RefundInfo, payment_info, refund_info
from .errors import PaymentNotFound
from .models import Payment, Refund

DB = "payment"


def _uuid(value: str | uuid.UUID) -> uuid.UUID | None:
    try:
        return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))
    except (ValueError, TypeError, AttributeError):
        return None


def payment_get(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID) -> PaymentInfo:
    pk = _uuid(payment_id)
    with tenant_context(tenant_id):
        payment = Payment.objects.using(DB).filter(pk=pk).first() if pk else None
    if payment is None:
        raise PaymentNotFound(f"No payment {payment_id}.", payment_id=str(payment_id))
    return payment_info(payment)


def payment_get_many(*, tenant_id: uuid.UUID, payment_ids: list[str]) -> dict[str, PaymentInfo]:
    pks = [pk for pk in (_uuid(value) for value in payment_ids) if pk]
    with tenant_context(tenant_id):
        rows = list(Payment.objects.using(DB).filter(pk__in=pks)) if pks else []
    return {str(row.id): payment_info(row) for row in rows}


def payment_refunds(*, tenant_id: uuid.UUID, payment_id: str | uuid.UUID) -> list[RefundInfo]:
    pk = _uuid(payment_id)
    with tenant_context(tenant_id):
        rows = list(Refund.objects.using(DB).filter(payment_id=pk).order_by("created_at")) if pk else []
    return [refund_info(row) for row in rows]


def payment_list(*, status: str | None = None, method: str | None = None, reference: str | None = None,
                 created_after: datetime | None = None, created_before: datetime | None = None) -> QuerySet[Payment]:
    """Payments of the tenant in scope, newest first, filtered. The caller paginates."""
    queryset = Payment.objects.using(DB).order_by("-created_at", "-id")
    if status:
        queryset = queryset.filter(status=status)
    if method:
        queryset = queryset.filter(method=method)
    if reference:
        queryset = queryset.filter(reference=reference)
    if created_after:
        queryset = queryset.filter(created_at__gte=created_after)
    if created_before:
        queryset = queryset.filter(created_at__lt=created_before)
    return queryset


def accepted_methods(*, tenant_payment_methods: tuple[str, ...]) -> list[str]:
    """The tenant's accepted methods that this module supports, in the module's order."""
    return [method for method in METHODS if method in tenant_payment_methods]
