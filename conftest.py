"""Fixtures shared by every module's tests and the cross-module tests.

Tests that touch a database say which: `pytest.mark.django_db(databases="__all__")` (pytest-django only
swaps in test databases for the aliases a test asks for)."""

from __future__ import annotations

import itertools

import pytest
from rest_framework.test import APIClient

from pos import tenancy

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_tenant_leaks():
    token = tenancy.activate(None)
    yield
    tenancy.deactivate(token)


def make_tenant(name: str | None = None, **fields):
    from modules.accounts import api as accounts

    n = next(_counter)
    return accounts.create_tenant(name=name or f"Restaurant {n}", slug=fields.pop("slug", f"r{n}"), **fields)


def make_terminal_client(tenant, role: str = "cashier", name: str | None = None) -> APIClient:
    from modules.accounts import api as accounts

    issued = accounts.create_terminal(tenant_id=tenant.id, name=name or f"T{next(_counter)}", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.terminal = issued.terminal
    client.token = issued.token
    return client


@pytest.fixture
def tenant(db):
    return make_tenant("Shwe Mohinga")


@pytest.fixture
def other_tenant(db):
    return make_tenant("Golden Tea House")


@pytest.fixture
def api(tenant) -> APIClient:
    """A cashier terminal of `tenant`."""
    return make_terminal_client(tenant, "cashier")


@pytest.fixture
def manager_api(tenant) -> APIClient:
    return make_terminal_client(tenant, "manager")


@pytest.fixture
def other_api(other_tenant) -> APIClient:
    return make_terminal_client(other_tenant, "manager")


@pytest.fixture
def in_tenant(tenant):
    with tenancy.tenant_context(tenant.id):
        yield tenant
