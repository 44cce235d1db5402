"""The audit log: refunds, stock counts and write-offs, product and price edits, role and token changes, with
who, when, which terminal or user and before/after; append-only; read-only to managers, their restaurant only."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from conftest import make_terminal_client
from modules.accounts import api as accounts
from modules.accounts.models import AuditEntry, Tenant, User
from pos import tenancy

pytestmark = pytest.mark.django_db(databases="__all__")


def entries(tenant, action=None):
    with tenancy.tenant_context(tenant.id):
        queryset = AuditEntry.objects.all()
        return list(queryset.filter(action=action) if action else queryset)


@pytest.fixture
def stocked(tenant):
    from modules.inventory import api as inventory

    inventory.create_product(tenant_id=tenant.id, product_id="tea", names={"en": "Tea", "my": "လက်ဖက်ရည်"}, price=1000)
    inventory.adjust_stock(tenant_id=tenant.id, product_id="tea", variant=None, kind="receive", quantity=10,
                           reason="delivery", actor="test")


def test_counts_and_write_offs_are_audited_with_the_approving_manager(tenant, stocked):
    accounts.create_manager(tenant_id=tenant.id, username="daw_mya", password="a-long-password-1")
    accounts.set_approval_code(user_id=User.objects.get(username="daw_mya").pk, code="482913")
    cashier = make_terminal_client(tenant, "cashier", name="Counter")
    response = cashier.post("/api/v1/inventory/adjustments", {"kind": "count", "product_id": "tea", "counted": 7,
                                                              "reason": "weekly"},
                            format="json", HTTP_IDEMPOTENCY_KEY="c1", HTTP_X_MANAGER_APPROVAL="daw_mya:482913")
    assert response.status_code == 201
    cashier.post("/api/v1/inventory/adjustments", {"kind": "waste", "product_id": "tea", "quantity": 2,
                                                   "reason": "spilt"}, format="json", HTTP_IDEMPOTENCY_KEY="w1")
    cashier.post("/api/v1/inventory/adjustments", {"kind": "receive", "product_id": "tea", "quantity": 2},
                 format="json", HTTP_IDEMPOTENCY_KEY="r1")
    [count] = entries(tenant, "stock.count")
    assert (count.actor, count.actor_id, count.approved_by) == ("terminal:Counter", str(cashier.terminal.id),
                                                                "daw_mya")
    assert count.before == {"on_hand": 10} and count.after == {"on_hand": 7, "reason": "weekly"}
    assert count.object_id == "tea:" and count.request_id
    [waste] = entries(tenant, "stock.waste")
    assert waste.before == {"on_hand": 7} and waste.after["on_hand"] == 5 and waste.approved_by == ""
    assert entries(tenant, "stock.receive") == []  # deliveries are in the stock ledger, not the audit log


def test_refunds_are_audited(tenant):
    from modules.pos_core.tests.conftest import make_catalog, order_body

    make_catalog(tenant.id)
    cashier = make_terminal_client(tenant, "cashier", name="Till")
    order = cashier.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="o1").json()
    assert cashier.post(f"/api/v1/orders/{order['id']}/refund", {"amount": 1000, "reason": "cold"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="r1").status_code == 201
    [refund] = entries(tenant, "order.refunded")
    assert refund.actor == "terminal:Till" and refund.object_id == order["id"]
    assert refund.before == {"refunded": 0} and refund.after["refunded"] == 1000 and refund.after["reason"] == "cold"
    payment_id = order["payment"]["id"]
    assert cashier.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 500, "reason": "sorry"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="p1").status_code == 201
    [direct] = entries(tenant, "payment.refunded")
    assert direct.before == {"refunded": 1000} and direct.after["amount"] == 500
    # a replayed request is not a second refund, and not a second entry
    cashier.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 500, "reason": "sorry"}, format="json",
                 HTTP_IDEMPOTENCY_KEY="p1")
    assert len(entries(tenant, "payment.refunded")) == 1


def test_token_and_role_changes_are_audited(tenant, client):
    issued = accounts.create_terminal(tenant_id=tenant.id, name="Bar")
    call_command("rotate_terminal", "--tenant", tenant.slug, "--name", "Bar", stdout=StringIO())
    call_command("revoke_terminal", "--tenant", tenant.slug, "--name", "Bar", stdout=StringIO())
    actions = [e.action for e in reversed(entries(tenant))]
    assert actions == ["terminal.created", "terminal.rotated", "terminal.revoked"]
    assert all(e.object_id == str(issued.terminal.id) for e in entries(tenant))
    boss = User.objects.create_user("boss", password="pw-123456-long", tenant_id=tenant.id, role="manager",
                                    is_staff=True)
    waiter = User.objects.create_user("maung", password="pw-123456-long", tenant_id=tenant.id, role="waiter")
    client.force_login(boss)
    page = client.get(f"/admin/accounts/user/{waiter.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k not in ("password", "groups",
                                                                                   "user_permissions", "tenant")}
    data.update({"role": "manager", "is_staff": "on", "is_active": "on", "date_joined_0": "2026-01-01",
                 "date_joined_1": "10:00:00"})
    data.pop("date_joined", None)
    data.pop("last_login", None)
    response = client.post(f"/admin/accounts/user/{waiter.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else None
    [change] = entries(tenant, "staff.changed")
    assert change.actor == "user:boss" and change.object_id == "maung"
    assert change.before["role"] == "waiter" and change.after["role"] == "manager"


def test_restaurant_settings_changes_are_audited(tenant, client):
    root = User.objects.create_superuser("root", password="pw-123456-long")
    client.force_login(root)
    page = client.get(f"/admin/accounts/tenant/{tenant.id}/change/")
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields}
    data = {k: ("on" if v is True else v) for k, v in data.items() if v is not None and v is not False}
    data["refund_approval_limit"] = 10_000
    data["locales"] = '["en", "my"]'
    data["payment_methods"] = '["cash", "card", "kbzpay", "wavepay"]'
    response = client.post(f"/admin/accounts/tenant/{tenant.id}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors if response.context else None
    [change] = entries(tenant, "restaurant.changed")
    assert change.before == {"refund_approval_limit": 50_000} and change.after == {"refund_approval_limit": 10_000}


def test_the_log_is_append_only(tenant):
    accounts.create_terminal(tenant_id=tenant.id, name="Bar")
    [entry] = entries(tenant)
    entry.action = "forged"
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with tenancy.tenant_context(tenant.id), pytest.raises(PermissionError):
        AuditEntry.objects.all().update(action="forged")
    with tenancy.tenant_context(tenant.id), pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert entries(tenant)[0].action == "terminal.created"


def test_managers_read_their_restaurants_log_only_and_cannot_change_it(tenant, other_tenant):
    accounts.create_terminal(tenant_id=tenant.id, name="Ours")
    accounts.create_terminal(tenant_id=other_tenant.id, name="Theirs")
    Tenant.objects.filter(pk=other_tenant.id)  # both restaurants have entries
    boss = User.objects.create_user("boss", password="pw-123456-long", tenant_id=tenant.id, role="manager",
                                    is_staff=True)
    client = Client()
    client.force_login(boss)
    page = client.get("/admin/accounts/auditentry/")
    assert page.status_code == 200
    listed = page.context["cl"].result_list
    assert {e.tenant_id for e in listed} == {tenant.id}
    ours = entries(tenant)[0]
    with tenancy.all_tenants():
        theirs = AuditEntry.objects.get(tenant_id=other_tenant.id)
    assert client.get(f"/admin/accounts/auditentry/{ours.pk}/change/").status_code == 200
    assert client.get(f"/admin/accounts/auditentry/{theirs.pk}/change/").status_code == 302  # not found for them
    assert client.get("/admin/accounts/auditentry/add/").status_code == 403
    assert client.post(f"/admin/accounts/auditentry/{ours.pk}/delete/", {"post": "yes"}).status_code == 403
    client.post(f"/admin/accounts/auditentry/{ours.pk}/change/", {"action": "forged"})
    assert entries(tenant)[0].action == "terminal.created"


def test_product_and_price_edits_in_the_admin_are_audited(tenant, settings):
    from modules.inventory.tests.factories import names, product, sized
    from modules.inventory.tests.test_admin import manager_client, product_form

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    product(tenant, names=names("Tea"), product_id="tea", variants=sized(1000, 1500))
    manager = manager_client(tenant)
    form = product_form(product_id="tea", name_en="Milk tea", version="1", variant_0_price="1200",
                        variant_1_price="1500")
    assert manager.post("/admin/inventory/product/tea/change/", form).status_code == 302
    [edit] = entries(tenant, "product.changed")
    assert edit.actor == "user:mya" and edit.object_id == "tea"
    assert edit.before["names"]["en"] == "Tea" and edit.after["names"]["en"] == "Milk tea"
    assert edit.before["variant_prices"]["small"] == 1000 and edit.after["variant_prices"]["small"] == 1200
    reprice = {**form, "version": "2", "variant_1_price": "1800"}
    assert manager.post("/admin/inventory/product/tea/change/", reprice).status_code == 302
    [price] = entries(tenant, "price.changed")
    assert price.before == {"variant_prices": {"small": 1200, "large": 1500}}
    assert price.after == {"variant_prices": {"small": 1200, "large": 1800}}


def test_voids_comps_and_discounts_of_a_check_are_audited_once(tenant):
    from modules.pos_core.tests.conftest import make_catalog
    from modules.restaurant import api as restaurant

    make_catalog(tenant.id)
    table = restaurant.create_table(tenant_id=tenant.id, code="A1")
    waiter = make_terminal_client(tenant, "manager", name="Floor")

    def post(path, body, key):
        response = waiter.post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
        assert response.status_code in (200, 201), response.json()
        return response.json()

    check = post("orders", {"service": "table", "table_id": str(table.id),
                            "items": [{"product_id": "mohinga", "quantity": 2},
                                      {"product_id": "tea", "variant": "small", "quantity": 1}]}, "open")
    mohinga, tea = check["items"]
    void = {"reason": "spilled", "made": True, "quantity": 1}
    post(f"orders/{check['id']}/items/{tea['id']}/void", void, "void-1")
    post(f"orders/{check['id']}/items/{tea['id']}/void", void, "void-1")  # a retry: replayed, audited once
    post(f"orders/{check['id']}/comps", {"item_id": mohinga["id"], "quantity": 1, "reason": "birthday"}, "comp-1")
    post(f"orders/{check['id']}/discounts", {"percent": "10", "reason": "regular guest"}, "discount-1")

    [voided] = entries(tenant, "order.item_voided")
    assert (voided.actor, voided.actor_id, voided.object_type, voided.object_id) == (
        "terminal:Floor", str(waiter.terminal.id), "order", check["id"])
    assert voided.before == {"grand_total": 7000}
    assert voided.after == {"grand_total": 6000, "item_id": tea["id"], "quantity": 1, "made": True,
                            "reason": "spilled"}
    [comped] = entries(tenant, "order.item_comped")
    assert comped.before == {"grand_total": 6000} and comped.after["grand_total"] == 3000
    assert (comped.after["item_id"], comped.after["quantity"], comped.after["reason"]) == (mohinga["id"], 1,
                                                                                           "birthday")
    [discounted] = entries(tenant, "order.discounted")
    assert discounted.before == {"grand_total": 3000} and discounted.after["grand_total"] == 2700
    assert (discounted.after["percent"], discounted.after["reason"]) == ("10.00", "regular guest")


def test_a_comp_on_a_waiters_terminal_with_a_managers_approval_is_done_and_names_the_manager(tenant):
    from modules.pos_core.tests.conftest import make_catalog
    from modules.restaurant import api as restaurant

    make_catalog(tenant.id)
    table = restaurant.create_table(tenant_id=tenant.id, code="A1")
    accounts.create_manager(tenant_id=tenant.id, username="daw_mya", password="a-long-password-1")
    accounts.set_approval_code(user_id=User.objects.get(username="daw_mya").pk, code="482913")
    waiter = make_terminal_client(tenant, "waiter", name="Floor")

    def post(path, body, key, **headers):
        return waiter.post(f"/api/v1/{path}", body, format="json", HTTP_IDEMPOTENCY_KEY=key, **headers)

    check = post("orders", {"service": "table", "table_id": str(table.id),
                            "items": [{"product_id": "mohinga", "quantity": 2}]}, "open").json()
    mohinga = check["items"][0]
    comp = {"item_id": mohinga["id"], "quantity": 1, "reason": "birthday"}
    refused = post(f"orders/{check['id']}/comps", comp, "comp-1")
    assert refused.status_code == 403 and refused.json()["type"].endswith("/manager-required")
    assert "X-Manager-Approval" in refused.json()["detail"]
    wrong = post(f"orders/{check['id']}/comps", comp, "comp-2", HTTP_X_MANAGER_APPROVAL="daw_mya:000000")
    assert wrong.status_code == 403
    assert entries(tenant, "order.item_comped") == []
    assert waiter.get(f"/api/v1/orders/{check['id']}").json()["totals"]["discount"]["amount"] == 0
    approved = post(f"orders/{check['id']}/comps", comp, "comp-3", HTTP_X_MANAGER_APPROVAL="daw_mya:482913")
    assert approved.status_code == 200, approved.json()
    assert approved.json()["totals"]["discount"]["amount"] == 3000
    [comped] = entries(tenant, "order.item_comped")
    assert (comped.actor, comped.approved_by) == ("terminal:Floor", "daw_mya")
    # A discount on the same check with the approval: done, and the approving manager recorded.
    discount = post(f"orders/{check['id']}/discounts", {"amount": 100, "reason": "late"}, "discount-1",
                    HTTP_X_MANAGER_APPROVAL="daw_mya:482913")
    assert discount.status_code == 200
    [discounted] = entries(tenant, "order.discounted")
    assert discounted.approved_by == "daw_mya"
