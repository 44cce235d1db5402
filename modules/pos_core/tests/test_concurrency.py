"""Races: the same Idempotency-Key from several threads, and many terminals buying the last units."""

from __future__ import annotations

import pytest

from conftest import at_once
from modules.payment import api as payment
from modules.pos_core import saga
from modules.pos_core.errors import SagaInProgress, StockChanged
from modules.pos_core.models import Order, OrderSaga, SagaStatus
from pos.errors import DomainError
from pos.tenancy import all_tenants

from .conftest import available, make_catalog, order_body

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres,
              pytest.mark.usefixtures("postgres_only")]



def test_the_same_key_raced_from_threads_places_one_order_and_charges_once(tenant):
    make_catalog(tenant.id)
    results = at_once(8, lambda i: saga.place_order(tenant_id=tenant.id, idempotency_key="same-key",
                                                    data=order_body(payment={"method": "card"})))
    orders = {str(r.id) for r in results if isinstance(r, Order)}
    assert len(orders) == 1, results
    assert all(isinstance(r, (Order, SagaInProgress)) for r in results), results
    with all_tenants():
        assert OrderSaga.objects.count() == 1 and Order.objects.count() == 1
        row = OrderSaga.objects.get()
    assert payment.get_payment(tenant_id=tenant.id, payment_id=row.payment_id).captured.amount == 8500
    assert available(tenant.id, "mohinga") == 8


def test_concurrent_orders_for_the_last_units_sell_exactly_what_is_there(tenant):
    make_catalog(tenant.id, stock=5)
    body = {"items": [{"product_id": "mohinga", "quantity": 1}], "payment": {"method": "card"}}
    results = at_once(20, lambda i: saga.place_order(tenant_id=tenant.id, idempotency_key=f"last-{i}", data=body))
    sold = [r for r in results if isinstance(r, Order)]
    refused = [r for r in results if isinstance(r, DomainError)]
    assert len(sold) == 5, results
    assert len(refused) == 15 and all(r.status == 409 for r in refused)
    assert all(isinstance(r, (Order, StockChanged)) or getattr(r, "type", "") == "stock-changed" for r in results)
    assert available(tenant.id, "mohinga") == 0
    with all_tenants():
        statuses = sorted(OrderSaga.objects.values_list("status", flat=True))
    # Every other saga was compensated (a terminal that read the catalog after it sold out is refused up front).
    assert statuses.count(SagaStatus.COMPLETED) == 5
    assert set(statuses) <= {SagaStatus.COMPLETED, SagaStatus.COMPENSATED}
