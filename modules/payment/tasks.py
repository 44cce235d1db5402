"""Celery tasks of the payment module."""

from __future__ import annotations

from celery import shared_task

from .services import payment_resolve_pending


@shared_task(name="payment.resolve_pending", ignore_result=True)
def resolve_pending() -> dict[str, int]:
    """Settle payments and refunds left pending by an ambiguous provider outcome, by lookup (never by charging)."""
    return payment_resolve_pending()
