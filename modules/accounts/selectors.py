from __future__ import annotations

import uuid

from pos.db.hot import rows_where
from pos.tenancy import all_tenants

from .dto import TenantInfo, TerminalIdentity
from .errors import TenantNotFound
from .models import Tenant, Terminal


def tenant_info(tenant: Tenant) -> TenantInfo:
    return TenantInfo(
        id=tenant.id, slug=tenant.slug, name=tenant.name, currency=tenant.currency,
        currency_exponent=tenant.currency_exponent, locales=tuple(tenant.locales), timezone=tenant.timezone,
        cash_rounding_unit=tenant.cash_rounding_unit, tax_rate=tenant.tax_rate, tax_inclusive=tenant.tax_inclusive,
        service_charge_rate=tenant.service_charge_rate, payment_methods=tuple(tenant.payment_methods),
        is_active=tenant.is_active, require_open_shift_for_cash=tenant.require_open_shift_for_cash,
        cash_max_change=tenant.cash_max_change, refund_approval_limit=tenant.refund_approval_limit,
    )


def tenant_get(*, tenant_id: uuid.UUID | str) -> TenantInfo:
    try:
        (tenant,) = rows_where(Tenant, pk=tenant_id)  # read on every placement: written as text, not compiled
    except ValueError:  # none, or not an id
        raise TenantNotFound(f"No tenant {tenant_id}.") from None
    return tenant_info(tenant)


def tenant_get_by_slug(*, slug: str) -> TenantInfo:
    try:
        return tenant_info(Tenant.objects.get(slug=slug))
    except Tenant.DoesNotExist:
        raise TenantNotFound(f"No tenant with slug {slug!r}.") from None


def tenant_list() -> list[TenantInfo]:
    return [tenant_info(tenant) for tenant in Tenant.objects.order_by("slug")]


def tenant_directory() -> list[tuple[uuid.UUID, str]]:
    return list(Tenant.objects.order_by("name").values_list("id", "name"))


def terminal_identity(terminal: Terminal, tenant_slug: str) -> TerminalIdentity:
    return TerminalIdentity(id=terminal.id, tenant_id=terminal.tenant_id, tenant_slug=tenant_slug,
                            name=terminal.name, role=terminal.role, last_used_at=terminal.last_used_at)


def terminal_list(*, tenant_id: uuid.UUID | str) -> list[TerminalIdentity]:
    with all_tenants():
        rows = list(Terminal.objects.select_related("tenant").filter(tenant_id=tenant_id, revoked_at__isnull=True)
                    .order_by("name"))
    return [terminal_identity(row, row.tenant.slug) for row in rows]


def terminal_by_prefix(prefix: str) -> Terminal | None:
    with all_tenants():  # the token names its tenant; nothing is in scope yet
        return Terminal.objects.select_related("tenant").filter(token_prefix=prefix).first()


def username_owners(*, usernames: list[str]) -> dict[str, uuid.UUID | None]:
    from .models import User

    return dict(User.objects.filter(username__in=list(usernames)).values_list("username", "tenant_id"))
