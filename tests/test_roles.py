"""The permission matrix (pos.api.permissions): declared by every endpoint, enforced for every role, documented
in the README exactly as the code says, and the manager's approval for counts and large refunds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from conftest import make_terminal_client
from modules.accounts import api as accounts
from pos.api import permissions
from pos.api.permissions import MATRIX, TERMINAL_ROLES
from tests.test_hostile_input import _api_views, _concrete

pytestmark = pytest.mark.django_db(databases="__all__")
ROOT = Path(__file__).resolve().parent.parent


def endpoints():
    """(path, method, action) of every API view method, from the URL conf."""
    for route, view in _api_views():
        if not route.startswith("api/v1/") or route.startswith(("api/v1/schema", "api/v1/docs")):
            continue
        for method in ("get", "post", "put", "patch", "delete"):
            if hasattr(view, method):
                yield _concrete(route), method.upper(), getattr(view, "permission_actions", {}).get(method.upper())


def test_every_endpoint_declares_a_known_action_for_every_method():
    found = list(endpoints())
    assert len(found) >= 25
    undeclared = [(path, method) for path, method, action in found if action not in MATRIX]
    assert undeclared == []


def test_the_readme_shows_the_matrix_as_the_code_enforces_it():
    assert permissions.markdown_table() in (ROOT / "README.md").read_text()


def test_terminal_roles_are_the_roles_accounts_issues():
    assert sorted(TERMINAL_ROLES) == sorted(accounts.ROLES)


@pytest.mark.parametrize("role", TERMINAL_ROLES)
def test_each_role_gets_exactly_what_the_matrix_says(tenant, role):
    client = make_terminal_client(tenant, role)
    for n, (path, method, action) in enumerate(endpoints()):
        response = client.generic(method, path, "{}", content_type="application/json",
                                  HTTP_IDEMPOTENCY_KEY=f"roles-{n}")
        denied = response.status_code == 403
        assert denied == (role not in MATRIX[action].roles), (role, method, path, response.status_code)


def test_a_waiter_cannot_read_payments_or_reports_but_a_cashier_can(tenant):
    waiter, cashier = make_terminal_client(tenant, "waiter"), make_terminal_client(tenant, "cashier")
    for path in ("/api/v1/payments", "/api/v1/reports/end-of-day"):
        assert waiter.get(path).status_code == 403
        assert cashier.get(path).status_code == 200


def test_an_undeclared_method_is_refused(tenant):
    from rest_framework.test import APIRequestFactory
    from rest_framework.views import APIView

    class Undeclared(APIView):
        def get(self, request):  # pragma: no cover - must never run
            raise AssertionError("reached")

    client = make_terminal_client(tenant, "manager")
    request = APIRequestFactory().get("/x", HTTP_AUTHORIZATION=f"Bearer {client.token}")
    response = Undeclared.as_view()(request)
    assert response.status_code == 403
    assert "declares no permission" in response.data["detail"]


# --- manager approval: stock counts and refunds above the restaurant's limit ----------------------------


def _manager_with_code(tenant, username="daw_mya", code="482913"):
    accounts.create_manager(tenant_id=tenant.id, username=username, password="a-long-password-1")
    user = get_user_model().objects.get(username=username)
    accounts.set_approval_code(user_id=user.pk, code=code)
    return f"{username}:{code}"


@pytest.fixture
def product(tenant):
    from modules.inventory import api as inventory

    inventory.create_product(tenant_id=tenant.id, product_id="tea", names={"en": "Tea", "my": "လက်ဖက်ရည်"}, price=1000)
    inventory.adjust_stock(tenant_id=tenant.id, product_id="tea", variant=None, kind="receive", quantity=10,
                           reason="delivery", actor="test")
    return "tea"


def count(client, key, counted=7, **headers):
    return client.post("/api/v1/inventory/adjustments", {"kind": "count", "product_id": "tea", "counted": counted,
                                                         "reason": "weekly count"},
                       format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_a_stock_count_needs_a_manager_or_a_managers_approval(tenant, product):
    approval = _manager_with_code(tenant)
    cashier, manager = make_terminal_client(tenant, "cashier"), make_terminal_client(tenant, "manager")
    refused = count(cashier, "c1")
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("manager-approval-required")
    assert count(cashier, "c2", HTTP_X_MANAGER_APPROVAL="daw_mya:000000").status_code == 403
    assert count(cashier, "c3", HTTP_X_MANAGER_APPROVAL=approval).status_code == 201
    assert count(manager, "m1", counted=6).status_code == 201
    receive = cashier.post("/api/v1/inventory/adjustments", {"kind": "receive", "product_id": "tea", "quantity": 1},
                           format="json", HTTP_IDEMPOTENCY_KEY="r1")
    assert receive.status_code == 201


def test_another_restaurants_manager_cannot_approve(tenant, other_tenant, product):
    theirs = _manager_with_code(other_tenant, username="u_ba")
    cashier = make_terminal_client(tenant, "cashier")
    assert count(cashier, "c1", HTTP_X_MANAGER_APPROVAL=theirs).status_code == 403


def test_wrong_approval_codes_are_throttled_per_address(tenant, product, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"failed_credentials": "3/min"}}
    _manager_with_code(tenant)
    cashier = make_terminal_client(tenant, "cashier")
    statuses = [count(cashier, f"c{n}", HTTP_X_MANAGER_APPROVAL=f"daw_mya:99999{n}").status_code for n in range(5)]
    assert statuses == [403, 403, 403, 429, 429]


@pytest.fixture
def paid_order(tenant):
    from modules.pos_core.tests.conftest import make_catalog, order_body

    make_catalog(tenant.id)
    cashier = make_terminal_client(tenant, "cashier")
    response = cashier.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="o1")
    assert response.status_code == 201, response.json()
    return response.json()


def refund(client, order, key, amount, **headers):
    return client.post(f"/api/v1/orders/{order['id']}/refund", {"amount": amount, "reason": "spilt"},
                       format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)


def test_refunds_above_the_limit_need_a_manager(tenant, paid_order):
    from modules.accounts.models import Tenant

    Tenant.objects.filter(pk=tenant.id).update(refund_approval_limit=2_000)
    approval = _manager_with_code(tenant)
    cashier, waiter = make_terminal_client(tenant, "cashier"), make_terminal_client(tenant, "waiter")
    manager = make_terminal_client(tenant, "manager")
    assert refund(waiter, paid_order, "w1", 1_000).status_code == 403
    # a refund without an amount is the rest of the order (8,500): above the limit, so it needs a manager too
    rest = cashier.post(f"/api/v1/orders/{paid_order['id']}/refund", {}, format="json", HTTP_IDEMPOTENCY_KEY="c0")
    assert rest.status_code == 403
    assert refund(cashier, paid_order, "c1", 2_000).status_code == 201  # at the limit: a cashier may
    over = refund(cashier, paid_order, "c2", 2_001)
    assert over.status_code == 403 and "refund limit" in over.json()["detail"]
    assert refund(cashier, paid_order, "c3", 2_001, HTTP_X_MANAGER_APPROVAL=approval).status_code == 201
    assert refund(manager, paid_order, "m1", 2_500).status_code == 201


def test_payment_refunds_above_the_limit_need_a_manager(tenant, paid_order):
    from modules.accounts.models import Tenant

    Tenant.objects.filter(pk=tenant.id).update(refund_approval_limit=2_000)
    cashier, manager = make_terminal_client(tenant, "cashier"), make_terminal_client(tenant, "manager")
    path = f"/api/v1/payments/{paid_order['payment']['id']}/refunds"
    over = cashier.post(path, {"amount": 3_000, "reason": "x"}, format="json", HTTP_IDEMPOTENCY_KEY="p1")
    assert over.status_code == 403
    assert manager.post(path, {"amount": 3_000, "reason": "x"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="p2").status_code == 201


def test_the_readme_says_how_a_new_endpoint_declares_its_roles():
    readme = (ROOT / "README.md").read_text()
    assert re.search(r"permission_actions\s*=", readme)
