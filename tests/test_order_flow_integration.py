"""Across modules, as a terminal and a manager would use them: order flow details the module suites leave out."""

from __future__ import annotations

import pytest

from modules.accounts.models import User
from modules.pos_core.tests.conftest import new_key, order_body

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def catalog(tenant):
    from modules.pos_core.tests.conftest import make_catalog

    return make_catalog(tenant.id)


def place(api, **overrides):
    return api.post("/api/v1/orders", order_body(**overrides), format="json", HTTP_IDEMPOTENCY_KEY=new_key())


@pytest.mark.parametrize("quantity", [2.0, "2", True, 2.5, 0, -1])
def test_non_integer_or_non_positive_quantities_are_refused(api, catalog, quantity):
    body_items = [{"product_id": "tea", "variant": "large", "quantity": quantity}]
    response = place(api, items=body_items)
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert api.get("/api/v1/orders").json()["count"] == 0


def test_a_csv_report_request_with_bad_parameters_gets_a_problem_body(manager_api):
    response = manager_api.get("/api/v1/reports/sales?from=2026-02-01&to=nope&format=csv")
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 400


@pytest.fixture
def manager(tenant):
    return User.objects.create_user("boss", password="pw-123456", tenant_id=tenant.id, role="manager",
                                    is_staff=True)


def test_manager_sees_the_sales_chart_and_only_their_orders(client, api, other_api, catalog, manager, other_tenant):
    from modules.inventory import api as inventory

    inventory.create_product(tenant_id=other_tenant.id, product_id="their-tea", price=900,
                             names={"en": "Tea", "my": "လက်ဖက်ရည်"})
    inventory.adjust_stock(tenant_id=other_tenant.id, product_id="their-tea", variant=None, kind="receive",
                           quantity=5, reason="delivery", actor="test")
    mine = place(api).json()
    theirs = place(other_api, items=[{"product_id": "their-tea", "quantity": 1}]).json()
    client.force_login(manager)
    report = client.get("/admin/pos_core/order/sales-report/")
    assert report.status_code == 200
    page = report.content.decode()
    assert "<svg" in page and "Sales, last 30 days" in page
    orders = client.get("/admin/pos_core/order/").content.decode()
    assert mine["id"] in orders
    assert theirs["id"] not in orders
    assert client.get(f"/admin/pos_core/order/{theirs['id']}/change/").status_code == 302
    assert client.get(f"/admin/pos_core/order/{mine['id']}/change/").status_code == 200
