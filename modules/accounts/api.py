"""The accounts module's front door for other modules: tenants and terminals as DTOs."""

from __future__ import annotations

import uuid
from datetime import datetime

from pos.memo import memoized

from .dto import Actor, ImportedStaff, IssuedTerminal, TenantInfo, TerminalIdentity
from .errors import InvalidImport, InvalidToken, TenantInactive, TenantNotFound, TerminalNameTaken, TerminalNotFound
from .models import Role
from .selectors import tenant_get as _get
from .selectors import tenant_get_by_slug as _by_slug
from .selectors import tenant_list as _tenant_list
from .selectors import terminal_list as _terminal_list
from .selectors import username_owners as _username_owners
from .services import audit_record as _audit_record
from .services import staff_create as _staff_create
from .services import staff_import as _staff_import
from .services import staff_set_approval_code as _set_approval_code
from .services import tenant_create as _tenant_create
from .services import tenant_import as _tenant_import
from .services import terminal_authenticate as _authenticate
from .services import terminal_create as _terminal_create
from .services import terminal_revoke as _terminal_revoke
from .services import terminal_rotate as _terminal_rotate

ROLES = tuple(Role.values)

__all__ = [
    "ROLES",
    "Actor",
    "ImportedStaff",
    "InvalidImport",
    "InvalidToken",
    "IssuedTerminal",
    "TenantInactive",
    "TenantInfo",
    "TenantNotFound",
    "TerminalIdentity",
    "TerminalNameTaken",
    "TerminalNotFound",
    "actor_of",
    "audit",
    "authenticate_terminal",
    "create_manager",
    "create_tenant",
    "create_terminal",
    "get_tenant",
    "get_tenant_by_slug",
    "get_username_owners",
    "import_staff",
    "import_tenant",
    "list_tenants",
    "list_terminals",
    "revoke_terminal",
    "rotate_terminal",
    "set_approval_code",
]


def get_tenant(tenant_id: uuid.UUID | str) -> TenantInfo:
    """The restaurant's settings (currency, locales, tax, rounding, accepted methods, whether cash payments need
    an open shift). Read once per unit of work inside `pos.memo.memo_scope` (an order placement). Raises
    TenantNotFound."""
    return memoized(("accounts.tenant", str(tenant_id)), lambda: _get(tenant_id=tenant_id))


def get_tenant_by_slug(slug: str) -> TenantInfo:
    """Like get_tenant, by slug. Raises TenantNotFound."""
    return _by_slug(slug=slug)


def list_tenants() -> list[TenantInfo]:
    """Every restaurant, by slug (system work: checks that run across tenants)."""
    return _tenant_list()


def list_terminals(*, tenant_id: uuid.UUID | str) -> list[TerminalIdentity]:
    """The restaurant's active terminals (revoked ones left out), by name. Unknown tenant: empty."""
    return _terminal_list(tenant_id=tenant_id)


def create_tenant(**fields) -> TenantInfo:
    """Create a restaurant (name, slug, currency, locales, ...). Raises IntegrityError on a taken slug."""
    return _tenant_create(**fields)


def create_manager(*, tenant_id: uuid.UUID, username: str, password: str) -> str:
    """Create a manager who can sign in to the admin for this tenant; returns the username."""
    return _staff_create(tenant_id=tenant_id, username=username, password=password).username


def set_approval_code(*, user_id: int, code: str) -> None:
    """Set a manager's approval code (at least 6 characters, no ':'; empty clears it). Raises ValueError."""
    _set_approval_code(user_id=user_id, code=code)


def create_terminal(*, tenant_id: uuid.UUID, name: str, role: str = "cashier",
                    expires_at: datetime | None = None) -> IssuedTerminal:
    """Create a terminal; the token in the result is the only time it is available in clear. `expires_at`:
    optional end of the token's life. Raises TenantNotFound, TenantInactive, TerminalNameTaken."""
    return _terminal_create(tenant_id=tenant_id, name=name, role=role, expires_at=expires_at)


def revoke_terminal(*, terminal_id: uuid.UUID) -> bool:
    """Revoke a terminal's token at once; its name can be reused. False if it was already revoked."""
    return _terminal_revoke(terminal_id=terminal_id)


def rotate_terminal(*, terminal_id: uuid.UUID) -> IssuedTerminal:
    """A new token for a working terminal (the old one stops working). Raises TerminalNotFound, TenantInactive."""
    return _terminal_rotate(terminal_id=terminal_id)


def authenticate_terminal(token: str) -> TerminalIdentity:
    """Resolve a bearer token. Raises InvalidToken (unknown, malformed, revoked)."""
    return _authenticate(token=token)


def import_tenant(*, slug: str, name: str, currency: str, locales: list[str],
                  timezone_name: str) -> tuple[TenantInfo, bool]:
    """The restaurant with `slug`, created with these settings if there is none; returns it and whether it was
    created. Idempotent by slug: an existing restaurant is returned unchanged. Raises InvalidImport (400: bad slug,
    name, unsupported currency, locales or unknown time zone; nothing written)."""
    return _tenant_import(slug=slug, name=name, currency=currency, locales=locales, timezone_name=timezone_name)


def import_staff(*, tenant_id: uuid.UUID, staff: list[dict]) -> ImportedStaff:
    """Create many staff users of a restaurant in one transaction (one INSERT). Each: `username`, `role` (one of
    ROLES; managers may sign in to the admin), optional `email`, `first_name`, `last_name`, `is_active`.
    Passwords are unusable: imported staff set theirs with a reset (`manage.py changepassword`). Idempotent by
    username: a username this restaurant already has is reported in `existing` and left unchanged; one held by
    anyone else is reported in `taken` and not created. Raises InvalidImport (400, every problem as
    `staff[i].field`; nothing written), TenantNotFound."""
    created, existing, taken = _staff_import(tenant_id=tenant_id, staff=staff)
    return ImportedStaff(created=tuple(created), existing=tuple(existing), taken=tuple(taken))


def get_username_owners(*, usernames: list[str]) -> dict[str, uuid.UUID | None]:
    """Which of these usernames exist, with the tenant each belongs to (None: staff of no restaurant, such as a
    superuser). Usernames not in use are absent. One query. Raises nothing."""
    return _username_owners(usernames=usernames)


def actor_of(principal, *, approved_by: str = "") -> Actor:
    """The actor of an API request (its terminal) or of an admin request (the staff user), for `audit`."""
    terminal = getattr(principal, "terminal", None)
    if terminal is not None:
        return Actor(label=f"terminal:{terminal.name}", id=str(terminal.id), approved_by=approved_by)
    if getattr(principal, "is_authenticated", False):
        return Actor(label=f"user:{principal.get_username()}", id=str(principal.pk), approved_by=approved_by)
    return Actor(label="system", approved_by=approved_by)


def audit(*, tenant_id: uuid.UUID, action: str, actor: Actor, object_type: str, object_id: str,
          before: dict | None = None, after: dict | None = None) -> None:
    """Append an entry to the restaurant's audit log (append-only; managers read it in the admin): `action` such
    as "order.refunded", "stock.count", "product.changed"; `before`/`after` are JSON-able dicts of what changed.
    Writes in the accounts database, after the caller's own change committed."""
    _audit_record(tenant_id=tenant_id, action=action, actor=actor, object_type=object_type, object_id=object_id,
                  before=before, after=after)
