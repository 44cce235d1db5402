"""One database per module, and tenant scoping as one shared mechanism."""

from __future__ import annotations

import io

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connections, router

from modules.accounts import api as accounts
from pos import tenancy
from pos.models import IdempotencyRecord, OutboxEvent

pytestmark = pytest.mark.django_db(databases="__all__")


def _terminal_model():
    return apps.get_model("accounts", "Terminal")


def test_every_model_is_routed_to_its_modules_database():
    expected = {"accounts": "default", "inventory": "inventory", "pos_core": "pos_core", "payment": "payment",
                "restaurant": "restaurant", "auth": "default", "admin": "default", "sessions": "default"}
    for model in apps.get_models():
        label = model._meta.app_label
        if label in expected:
            assert router.db_for_write(model) == expected[label], model
            assert router.db_for_read(model) == expected[label], model


def test_each_database_holds_only_its_own_tables():
    for alias in connections:
        tables = set(connections[alias].introspection.table_names())
        for model in apps.get_models():
            owner = router.db_for_write(model)
            if getattr(model, "in_every_module_database", False):
                assert model._meta.db_table in tables, (alias, model)
            elif owner != alias:
                assert model._meta.db_table not in tables, (alias, model)


def test_kernel_outbox_is_in_every_database_and_idempotency_only_in_default():
    for alias in connections:
        assert router.allow_migrate_model(alias, OutboxEvent)
        assert router.allow_migrate_model(alias, IdempotencyRecord) == (alias == "default")


def test_relations_across_databases_are_refused(tenant):
    terminal = _terminal_model()(name="x")
    outbox = OutboxEvent(name="x")
    assert router.allow_relation(terminal, outbox) is False or router.db_for_write(OutboxEvent) == "default"
    from modules.accounts.models import Tenant

    for model in apps.get_models():
        if model._meta.app_label in {"inventory", "pos_core", "payment", "restaurant"}:
            assert router.allow_relation(Tenant(), model()) is False


def test_migrate_all_reports_every_database():
    out = io.StringIO()
    call_command("migrate_all", stdout=out)
    text = out.getvalue()
    for alias in ("default", "inventory", "pos_core", "payment", "restaurant"):
        assert f"{alias}: up to date" in text
    call_command("migrate_all", "--check", stdout=io.StringIO())


def test_migrate_all_refuses_an_unknown_alias():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="Unknown database alias: nope"):
        call_command("migrate_all", "--database", "nope", stdout=io.StringIO())


def test_scoped_queries_fail_closed_without_a_tenant(tenant):
    with pytest.raises(tenancy.TenantScopeMissing):
        list(_terminal_model().objects.all())


def test_one_tenant_never_sees_another_tenants_rows(tenant, other_tenant):
    accounts.create_terminal(tenant_id=tenant.id, name="Mine")
    accounts.create_terminal(tenant_id=other_tenant.id, name="Theirs")
    terminal = _terminal_model()
    with tenancy.tenant_context(tenant.id):
        assert list(terminal.objects.values_list("name", flat=True)) == ["Mine"]
        assert not terminal.objects.filter(name="Theirs").exists()
    with tenancy.tenant_context(other_tenant.id):
        assert list(terminal.objects.values_list("name", flat=True)) == ["Theirs"]
    with tenancy.all_tenants():
        assert terminal.objects.count() == 2


def test_rows_are_stamped_with_the_tenant_in_scope_and_cannot_be_written_across(tenant, other_tenant):
    from modules.accounts.models import Terminal

    with tenancy.tenant_context(tenant.id):
        row = Terminal(tenant_id=tenant.id, name="A", token_prefix="p1", token_hash="h")
        row.save()
        foreign = Terminal(tenant_id=other_tenant.id, name="B", token_prefix="p2", token_hash="h")
        with pytest.raises(tenancy.TenantMismatch):
            foreign.save()
    with tenancy.tenant_context(other_tenant.id):
        assert not Terminal.objects.filter(pk=row.pk).exists()


def test_a_tenant_id_without_scope_is_required_to_write():
    with pytest.raises(tenancy.TenantScopeMissing):
        tenancy.current_tenant_id()
    with tenancy.all_tenants(), pytest.raises(tenancy.TenantScopeMissing):
        tenancy.current_tenant_id()
