"""Tenant scoping, the one mechanism every module uses.

The tenant of the current request or task lives in a context variable. It is set from the authenticated
terminal (API), the staff user (admin), or explicitly by a task or event handler. A `TenantScopedModel`'s
default manager filters every query by it and fails closed: with no tenant in scope a query raises
`TenantScopeMissing` instead of returning every tenant's rows. System processes that legitimately work
across tenants (relays, expiry sweeps, superusers in the admin) say so with `all_tenants()`.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar, Token
from typing import Any

from django.db import models


class TenantScopeMissing(RuntimeError):
    """A tenant-scoped query ran with no tenant in scope."""


class TenantMismatch(PermissionError):
    """A row of one tenant was about to be written under another tenant's scope."""


class _AllTenants:
    def __repr__(self) -> str:
        return "ALL_TENANTS"


ALL_TENANTS: Any = _AllTenants()
_scope: ContextVar[uuid.UUID | _AllTenants | None] = ContextVar("pos_tenant_scope", default=None)


def _as_uuid(tenant_id: uuid.UUID | str) -> uuid.UUID:
    return tenant_id if isinstance(tenant_id, uuid.UUID) else uuid.UUID(str(tenant_id))


def activate(tenant_id: uuid.UUID | str | _AllTenants | None) -> Token:
    value = tenant_id if tenant_id is None or tenant_id is ALL_TENANTS else _as_uuid(tenant_id)
    return _scope.set(value)


def deactivate(token: Token) -> None:
    _scope.reset(token)


@contextlib.contextmanager
def tenant_context(tenant_id: uuid.UUID | str) -> Iterator[uuid.UUID]:
    token = activate(tenant_id)
    try:
        yield _scope.get()  # type: ignore[misc]
    finally:
        deactivate(token)


@contextlib.contextmanager
def all_tenants() -> Iterator[None]:
    token = activate(ALL_TENANTS)
    try:
        yield
    finally:
        deactivate(token)


def current_scope() -> uuid.UUID | _AllTenants | None:
    return _scope.get()


def current_tenant_id() -> uuid.UUID:
    """The single tenant in scope; raises if there is none or the scope spans all tenants."""
    value = _scope.get()
    if value is None or value is ALL_TENANTS:
        raise TenantScopeMissing("This operation needs one tenant in scope.")
    return value  # type: ignore[return-value]


class TenantQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        for obj in objs:
            obj.stamp_tenant()
        return super().bulk_create(objs, *args, **kwargs)


class TenantManager(models.Manager.from_queryset(TenantQuerySet)):  # type: ignore[misc]
    """Filters by the tenant in scope; fails closed when there is none."""

    def get_queryset(self) -> TenantQuerySet:
        scope = _scope.get()
        queryset = super().get_queryset()
        if scope is ALL_TENANTS:
            return queryset
        if scope is None:
            raise TenantScopeMissing(
                f"{self.model.__name__} is tenant-scoped and no tenant is in scope. "
                "Use tenant_context(tenant_id) or, for system work across tenants, all_tenants()."
            )
        return queryset.filter(tenant_id=scope)


class TenantScopedModel(models.Model):
    """Base for every tenant-owned row. `tenant_id` is a plain id: tenants live in another module."""

    tenant_id = models.UUIDField(db_index=True, editable=False)

    objects = TenantManager()
    unscoped = models.Manager()  # system work only; prefer all_tenants() so intent shows at the call site

    class Meta:
        abstract = True

    def stamp_tenant(self) -> None:
        scope = _scope.get()
        if self.tenant_id is None:
            self.tenant_id = current_tenant_id()
        elif scope is not None and scope is not ALL_TENANTS and self.tenant_id != scope:
            raise TenantMismatch(f"Row of tenant {self.tenant_id} cannot be written in scope of tenant {scope}.")

    def save(self, *args, **kwargs) -> None:
        self.stamp_tenant()
        super().save(*args, **kwargs)


# The admin needs to name tenants without importing accounts: accounts registers a directory at start-up.
_directory: Callable[[], list[tuple[uuid.UUID, str]]] | None = None


def register_tenant_directory(directory: Callable[[], list[tuple[uuid.UUID, str]]]) -> None:
    global _directory
    _directory = directory


def tenant_choices() -> list[tuple[uuid.UUID, str]]:
    return _directory() if _directory else []
