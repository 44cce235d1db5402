"""Writes for tenants, staff and terminals."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from pos.money import currency_exponent
from pos.tenancy import all_tenants, tenant_context

from .dto import IssuedTerminal, TenantInfo, TerminalIdentity
from .errors import InvalidToken, TenantNotFound, TerminalNameTaken
from .models import Role, Tenant, Terminal, User
from .selectors import tenant_info, terminal_by_prefix, terminal_identity

DB = "default"
TOKEN_PREFIX = "pos"  # noqa: S105 - a label, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tenant_create(*, name: str, slug: str | None = None, currency: str = "MMK", locales: list[str] | None = None,
                  timezone_name: str = "Asia/Yangon", cash_rounding_unit: int = 50, tax_rate: Decimal = Decimal("5"),
                  tax_inclusive: bool = True, service_charge_rate: Decimal = Decimal("0"),
                  payment_methods: list[str] | None = None, require_open_shift_for_cash: bool = False) -> TenantInfo:
    tenant = Tenant.objects.create(
        name=name, slug=slug or slugify(name), currency=currency, currency_exponent=currency_exponent(currency),
        locales=locales or ["en", "my"], timezone=timezone_name, cash_rounding_unit=cash_rounding_unit,
        tax_rate=tax_rate, tax_inclusive=tax_inclusive, service_charge_rate=service_charge_rate,
        payment_methods=payment_methods or ["cash", "card", "kbzpay", "wavepay"],
        require_open_shift_for_cash=require_open_shift_for_cash,
    )
    return tenant_info(tenant)


def staff_create(*, tenant_id: uuid.UUID, username: str, password: str, role: str = Role.MANAGER,
                 email: str = "") -> User:
    return User.objects.create_user(username=username, password=password, email=email, tenant_id=tenant_id,
                                    role=role, is_staff=role == Role.MANAGER)


def terminal_create(*, tenant_id: uuid.UUID, name: str, role: str = Role.CASHIER) -> IssuedTerminal:
    """Create a terminal and return its token. The clear token exists only in the return value."""
    try:
        tenant = Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise TenantNotFound(f"No tenant {tenant_id}.") from None
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic(using=DB), tenant_context(tenant.id):
            terminal = Terminal.objects.create(tenant=tenant, name=name, role=role, token_prefix=prefix,
                                               token_hash=_hash(secret))
    except IntegrityError:
        raise TerminalNameTaken(f"Tenant {tenant.slug!r} already has a terminal named {name!r}.") from None
    return IssuedTerminal(terminal=terminal_identity(terminal, tenant.slug), token=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def terminal_revoke(*, terminal_id: uuid.UUID) -> None:
    Terminal.objects.filter(pk=terminal_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


def terminal_authenticate(*, token: str) -> TerminalIdentity:
    """Resolve a bearer token to its terminal. Raises InvalidToken for unknown, malformed or revoked tokens."""
    parts = token.split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        raise InvalidToken("Malformed terminal token.")
    _, prefix, secret = parts
    terminal = terminal_by_prefix(prefix)
    if terminal is None or not hmac.compare_digest(terminal.token_hash, _hash(secret)):
        raise InvalidToken("Unknown terminal token.")
    if terminal.revoked_at is not None:
        raise InvalidToken("This terminal's token was revoked.")
    if not terminal.tenant.is_active:
        raise InvalidToken("This restaurant is deactivated.")
    now = timezone.now()
    resolution = timedelta(seconds=settings.TERMINAL_LAST_USED_RESOLUTION_SECONDS)
    if terminal.last_used_at is None or now - terminal.last_used_at >= resolution:
        # one write a minute per terminal, not one per request
        with all_tenants():
            Terminal.objects.filter(pk=terminal.pk).update(last_used_at=now)
        terminal.last_used_at = now
    return terminal_identity(terminal, terminal.tenant.slug)
