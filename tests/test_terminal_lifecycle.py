"""Terminal tokens have a life cycle: revoke, rotate (commands and admin actions), optional expiry, names reusable
after a revocation; a deactivated restaurant's staff can no longer sign in to the admin or issue terminals."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from rest_framework.test import APIClient

from modules.accounts import api as accounts
from modules.accounts.models import Tenant, Terminal, User
from pos import tenancy

pytestmark = pytest.mark.django_db(databases="__all__")


def me(token):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client.get("/api/v1/me")


def run(*args) -> list[str]:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue().strip().splitlines()


def test_revoke_terminal_command_stops_the_token_and_frees_the_name(tenant):
    issued = accounts.create_terminal(tenant_id=tenant.id, name="Counter 1")
    assert me(issued.token).status_code == 200
    lines = run("revoke_terminal", "--tenant", tenant.slug, "--name", "Counter 1")
    assert "Revoked" in lines[0]
    assert me(issued.token).status_code == 401
    again = accounts.create_terminal(tenant_id=tenant.id, name="Counter 1")  # the name is free again
    assert me(again.token).status_code == 200
    with pytest.raises(accounts.TerminalNameTaken):
        accounts.create_terminal(tenant_id=tenant.id, name="Counter 1")  # but only once among working terminals
    with pytest.raises(CommandError, match="No working terminal"):
        run("revoke_terminal", "--tenant", tenant.slug, "--name", "Nobody")


def test_rotate_terminal_command_prints_a_new_token_and_the_old_one_stops(tenant):
    issued = accounts.create_terminal(tenant_id=tenant.id, name="Counter 1", role="manager")
    lines = run("rotate_terminal", "--tenant", tenant.slug, "--name", "Counter 1", "--expires-in-days", "30")
    new_token = lines[-1]
    assert new_token.startswith("pos_") and new_token != issued.token
    assert me(issued.token).status_code == 401
    answer = me(new_token)
    assert answer.status_code == 200
    assert answer.json()["terminal"]["id"] == str(issued.terminal.id)  # same terminal, same role and history
    assert answer.json()["terminal"]["role"] == "manager"
    with tenancy.all_tenants():
        expires = Terminal.objects.get(pk=issued.terminal.id).expires_at
    assert timedelta(days=29) < expires - timezone.now() <= timedelta(days=30)


def test_an_expired_token_is_refused(tenant):
    issued = accounts.create_terminal(tenant_id=tenant.id, name="Temp", expires_at=timezone.now() + timedelta(hours=1))
    assert me(issued.token).status_code == 200
    with tenancy.all_tenants():
        Terminal.objects.filter(pk=issued.terminal.id).update(expires_at=timezone.now() - timedelta(seconds=1))
    response = me(issued.token)
    assert response.status_code == 401 and "expired" in response.json()["detail"]


def test_create_terminal_command_takes_an_expiry(tenant):
    lines = run("create_terminal", "--tenant", tenant.slug, "--name", "Pop-up", "--expires-in-days", "2")
    assert "expires" in lines[0]
    assert me(lines[-1]).status_code == 200


@pytest.fixture
def manager(tenant):
    return User.objects.create_user("boss", password="pw-123456-long", tenant_id=tenant.id, role="manager",
                                    is_staff=True)


def test_admin_actions_revoke_and_rotate(client, manager, tenant):
    one = accounts.create_terminal(tenant_id=tenant.id, name="One")
    two = accounts.create_terminal(tenant_id=tenant.id, name="Two")
    client.force_login(manager)
    response = client.post("/admin/accounts/terminal/", {"action": "rotate", "_selected_action": [str(one.terminal.id)]},
                           follow=True)
    page = response.content.decode()
    assert "New token for One" in page
    assert me(one.token).status_code == 401
    new_token = page.split("New token for One (shown once, copy it now): ")[1].split("<")[0].strip()
    assert me(new_token).status_code == 200
    client.post("/admin/accounts/terminal/", {"action": "revoke", "_selected_action": [str(two.terminal.id)]})
    assert me(two.token).status_code == 401


def test_a_deactivated_restaurants_manager_cannot_sign_in_nor_issue_terminals(client, manager, tenant):
    signed_in = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "pw-123456-long"})
    assert signed_in.status_code == 302
    assert client.get("/admin/").status_code == 200
    Tenant.objects.filter(pk=tenant.id).update(is_active=False)
    # the open session no longer counts, and a new sign-in is refused
    assert client.get("/admin/").status_code == 302
    response = client.post("/admin/login/?next=/admin/", {"username": "boss", "password": "pw-123456-long"})
    assert response.status_code == 200 and "correct username and password" in response.content.decode()
    with pytest.raises(accounts.TenantInactive):
        accounts.create_terminal(tenant_id=tenant.id, name="Sneaky")
    with pytest.raises(CommandError, match="deactivated"):
        run("create_terminal", "--tenant", tenant.slug, "--name", "Sneaky")


def test_a_superuser_cannot_issue_a_terminal_to_a_deactivated_restaurant_in_the_admin(client, tenant):
    Tenant.objects.filter(pk=tenant.id).update(is_active=False)
    root = User.objects.create_superuser("root", password="pw-123456-long")
    client.force_login(root)
    response = client.post("/admin/accounts/terminal/add/", {"tenant": str(tenant.id), "name": "X", "role": "cashier"})
    assert response.status_code == 200 and "deactivated" in response.content.decode()
    with tenancy.all_tenants():
        assert not Terminal.objects.filter(name="X").exists()
