"""The admin shows a manager only their tenant's rows and stamps new rows with it; superusers see all."""

from __future__ import annotations

import pytest

from modules.accounts import api as accounts
from modules.accounts.models import Terminal, User
from pos import tenancy

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def manager(tenant):
    return User.objects.create_user("boss", password="pw-123456", tenant_id=tenant.id, role="manager",
                                    is_staff=True)


@pytest.fixture
def terminals(tenant, other_tenant):
    accounts.create_terminal(tenant_id=tenant.id, name="Our counter")
    accounts.create_terminal(tenant_id=other_tenant.id, name="Their counter")


def test_manager_sees_only_their_tenants_terminals(client, manager, terminals):
    client.force_login(manager)
    page = client.get("/admin/accounts/terminal/").content.decode()
    assert "Our counter" in page
    assert "Their counter" not in page


def test_manager_cannot_open_another_tenants_row(client, manager, other_tenant, terminals):
    with tenancy.all_tenants():
        theirs = Terminal.objects.get(name="Their counter")
    client.force_login(manager)
    response = client.get(f"/admin/accounts/terminal/{theirs.pk}/change/")
    assert response.status_code == 302  # admin redirects a missing object to the index
    assert client.post(f"/admin/accounts/terminal/{theirs.pk}/change/", {"name": "Hijacked", "role": "cashier"}
                       ).status_code in {302, 404}
    with tenancy.all_tenants():
        assert Terminal.objects.get(pk=theirs.pk).name == "Their counter"


def test_manager_adding_a_terminal_stamps_their_tenant_and_shows_the_token_once(client, manager, tenant):
    client.force_login(manager)
    response = client.post("/admin/accounts/terminal/add/", {"name": "Patio phone", "role": "waiter"}, follow=True)
    assert response.status_code == 200
    with tenancy.all_tenants():
        created = Terminal.objects.get(name="Patio phone")
    assert created.tenant_id == tenant.id
    assert "shown once" in response.content.decode()


def test_superuser_sees_every_tenant_with_a_tenant_column(client, terminals):
    admin = User.objects.create_superuser("root", password="pw-123456")
    client.force_login(admin)
    page = client.get("/admin/accounts/terminal/").content.decode()
    assert "Our counter" in page and "Their counter" in page
    assert "Tenant" in page


def test_manager_sees_only_their_own_restaurant_and_staff(client, manager, other_tenant):
    User.objects.create_user("rival", password="pw", tenant_id=other_tenant.id, role="manager", is_staff=True)
    client.force_login(manager)
    tenants = client.get("/admin/accounts/tenant/").content.decode()
    assert "Shwe Mohinga" in tenants and "Golden Tea House" not in tenants
    staff = client.get("/admin/accounts/user/").content.decode()
    assert "boss" in staff and "rival" not in staff


def test_cashiers_and_staff_without_a_tenant_cannot_use_the_admin(client, tenant):
    cashier = User.objects.create_user("cash", password="pw", tenant_id=tenant.id, role="cashier", is_staff=True)
    client.force_login(cashier)
    assert client.get("/admin/accounts/terminal/").status_code in {302, 403}
