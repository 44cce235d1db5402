from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal


@dataclass(frozen=True)
class TenantInfo:
    id: uuid.UUID
    slug: str
    name: str
    currency: str
    currency_exponent: int
    locales: tuple[str, ...]
    timezone: str
    cash_rounding_unit: int
    tax_rate: Decimal
    tax_inclusive: bool
    service_charge_rate: Decimal
    payment_methods: tuple[str, ...]
    is_active: bool
    require_open_shift_for_cash: bool = False  # cash payments need an open shift on the terminal's drawer
    cash_max_change: int = 100_000
    refund_approval_limit: int = 50_000


@dataclass(frozen=True)
class TerminalIdentity:
    id: uuid.UUID
    tenant_id: uuid.UUID
    tenant_slug: str
    name: str
    role: str
    last_used_at: datetime | None


@dataclass(frozen=True)
class IssuedTerminal:
    terminal: TerminalIdentity
    token: str  # shown once, never stored in clear


@dataclass(frozen=True)
class ImportedStaff:
    """What import_staff did, by username: created, already this restaurant's (left as they are), or taken by
    another restaurant (not created; the caller picks another name)."""

    created: tuple[str, ...]
    existing: tuple[str, ...]
    taken: tuple[str, ...]


@dataclass(frozen=True)
class Actor:
    """Who does something: `terminal:<name>`, `user:<username>` or `system:<process>`, with their id."""

    label: str
    id: str = ""
    approved_by: str = ""
