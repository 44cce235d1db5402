"""Every admin page a manager can reach renders (no 500s) with the demo data, and shows only their restaurant."""

from __future__ import annotations

import io

import pytest
from django.contrib import admin
from django.core.management import call_command
from django.urls import reverse

from modules.accounts import api as accounts
from modules.accounts.models import User

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def demo_manager():
    call_command("seed_demo", stdout=io.StringIO())
    tenant = accounts.get_tenant_by_slug("demo")
    return User.objects.get(username="manager"), tenant


def _admin_urls():
    for model, model_admin in admin.site._registry.items():
        info = (model._meta.app_label, model._meta.model_name)
        yield model, model_admin, reverse(f"admin:{info[0]}_{info[1]}_changelist"), reverse(f"admin:{info[0]}_{info[1]}_add")


def test_every_changelist_and_add_page_renders_for_a_manager(client, demo_manager):
    manager, _tenant = demo_manager
    client.force_login(manager)
    assert client.get("/admin/").status_code == 200
    seen = 0
    for model, _model_admin, changelist, add in _admin_urls():
        if model._meta.app_label in {"auth"}:
            continue
        response = client.get(changelist)
        assert response.status_code in {200, 403}, (changelist, response.status_code)
        if response.status_code == 200:
            seen += 1
            added = client.get(add)
            assert added.status_code in {200, 403}, (add, added.status_code)
    assert seen >= 15


def test_every_changelist_renders_for_a_superuser_across_tenants(client, demo_manager):
    root = User.objects.create_superuser("root", password="pw-123456")
    client.force_login(root)
    for _model, _model_admin, changelist, add in _admin_urls():
        assert client.get(changelist).status_code == 200, changelist
        assert client.get(add).status_code in {200, 403}, add


def test_a_seeded_products_change_page_renders_with_its_names_per_locale(client, demo_manager):
    manager, tenant = demo_manager
    client.force_login(manager)
    page = client.get("/admin/inventory/product/?q=mohinga").content.decode()
    assert "Mohinga" in page
    from modules.inventory import api as inventory

    product = inventory.search_products(tenant_id=tenant.id, query="mohinga")[0]
    change = client.get(f"/admin/inventory/product/{product.id}/change/")
    assert change.status_code == 200
    assert "မုန့်ဟင်းခါး" in change.content.decode()
