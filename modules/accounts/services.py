"""Writes for tenants, staff and terminals."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import check_password, make_password
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.text import slugify

from pos import logging as pos_logging
from pos.money import currency_exponent
from pos.tenancy import all_tenants, tenant_context

from .dto import Actor, IssuedTerminal, TenantInfo, TerminalIdentity
from .errors import InvalidToken, TenantInactive, TenantNotFound, TerminalNameTaken, TerminalNotFound
from .models import AuditEntry, Role, Tenant, Terminal, User
from .selectors import tenant_info, terminal_by_prefix, terminal_identity

DB = "default"
TOKEN_PREFIX = "pos"  # noqa: S105 - a label, not a secret


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def tenant_create(*, name: str, slug: str | None = None, currency: str = "MMK", locales: list[str] | None = None,
                  timezone_name: str = "Asia/Yangon", cash_rounding_unit: int = 50, tax_rate: Decimal = Decimal("5"),
                  tax_inclusive: bool = True, service_charge_rate: Decimal = Decimal("0"),
                  payment_methods: list[str] | None = None, require_open_shift_for_cash: bool = False,
                  cash_max_change: int = 100_000, refund_approval_limit: int = 50_000) -> TenantInfo:
    tenant = Tenant.objects.create(
        name=name, slug=slug or slugify(name), currency=currency, currency_exponent=currency_exponent(currency),
        locales=locales or ["en", "my"], timezone=timezone_name, cash_rounding_unit=cash_rounding_unit,
        tax_rate=tax_rate, tax_inclusive=tax_inclusive, service_charge_rate=service_charge_rate,
        payment_methods=payment_methods or ["cash", "card", "kbzpay", "wavepay"],
        require_open_shift_for_cash=require_open_shift_for_cash,
        cash_max_change=cash_max_change, refund_approval_limit=refund_approval_limit,
    )
    return tenant_info(tenant)


def staff_create(*, tenant_id: uuid.UUID, username: str, password: str, role: str = Role.MANAGER,
                 email: str = "") -> User:
    return User.objects.create_user(username=username, password=password, email=email, tenant_id=tenant_id,
                                    role=role, is_staff=role == Role.MANAGER)


APPROVAL_CODE_MIN_LENGTH = 6


def staff_set_approval_code(*, user_id: int, code: str) -> None:
    """Set (or, with an empty code, clear) a manager's approval code. Raises ValueError for a short code."""
    code = code.strip()
    if code and (len(code) < APPROVAL_CODE_MIN_LENGTH or not code.isprintable() or ":" in code):
        raise ValueError(f"An approval code has at least {APPROVAL_CODE_MIN_LENGTH} characters and no ':'.")
    User.objects.filter(pk=user_id).update(approval_code_hash=make_password(code) if code else "")


def manager_approval_verify(*, tenant_id: uuid.UUID, username: str, code: str) -> str | None:
    """The approving manager's username if `code` is the approval code of an active manager of this active
    restaurant; None otherwise. Costs one password hash either way, so timing tells nothing."""
    user = (User.objects.select_related("tenant")
            .filter(username=username, tenant_id=tenant_id, role=Role.MANAGER, is_active=True).first())
    encoded = user.approval_code_hash if user is not None and user.approval_code_hash else None
    ok = check_password(code, encoded) if encoded else (make_password(code) and False)
    if not ok or user is None or not user.tenant.is_active:
        return None
    return user.username


def _new_token() -> tuple[str, str]:
    return secrets.token_hex(6), secrets.token_urlsafe(32)


SYSTEM = Actor(label="system:manage.py")


def terminal_create(*, tenant_id: uuid.UUID, name: str, role: str = Role.CASHIER,
                    expires_at: datetime | None = None, actor: Actor = SYSTEM) -> IssuedTerminal:
    """Create a terminal and return its token. The clear token exists only in the return value.
    Raises TenantNotFound, TenantInactive, TerminalNameTaken."""
    try:
        tenant = Tenant.objects.get(pk=tenant_id)
    except Tenant.DoesNotExist:
        raise TenantNotFound(f"No tenant {tenant_id}.") from None
    if not tenant.is_active:
        raise TenantInactive(f"{tenant.name} is deactivated: it cannot be issued terminals.")
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; choose one of {', '.join(Role.values)}.")
    prefix, secret = _new_token()
    try:
        with transaction.atomic(using=DB), tenant_context(tenant.id):
            terminal = Terminal.objects.create(tenant=tenant, name=name, role=role, token_prefix=prefix,
                                               token_hash=_hash(secret), expires_at=expires_at)
    except IntegrityError:
        raise TerminalNameTaken(f"Tenant {tenant.slug!r} already has a terminal named {name!r}.") from None
    audit_record(tenant_id=tenant.id, action="terminal.created", actor=actor, object_type="terminal",
                 object_id=str(terminal.id), after={"name": name, "role": role, "expires_at": expires_at})
    return IssuedTerminal(terminal=terminal_identity(terminal, tenant.slug), token=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def _working_terminal(terminal_id: uuid.UUID) -> Terminal:
    with all_tenants():
        terminal = Terminal.objects.select_related("tenant").filter(pk=terminal_id).first()
    if terminal is None or terminal.revoked_at is not None:
        raise TerminalNotFound(f"No working terminal {terminal_id}.")
    return terminal


def terminal_revoke(*, terminal_id: uuid.UUID, actor: Actor = SYSTEM) -> bool:
    """Revoke a terminal's token at once (its name becomes free). False if it was already revoked."""
    now = timezone.now()
    with all_tenants():
        done = bool(Terminal.objects.filter(pk=terminal_id, revoked_at__isnull=True).update(revoked_at=now))
        terminal = Terminal.objects.filter(pk=terminal_id).first() if done else None
    if terminal is not None:
        audit_record(tenant_id=terminal.tenant_id, action="terminal.revoked", actor=actor, object_type="terminal",
                     object_id=str(terminal.id), before={"name": terminal.name, "revoked_at": None},
                     after={"name": terminal.name, "revoked_at": now})
    return done


def terminal_rotate(*, terminal_id: uuid.UUID, expires_at: datetime | bool | None = False,
                    actor: Actor = SYSTEM) -> IssuedTerminal:
    """Give a working terminal a new token; the old one stops working at once. `expires_at` (a time, or None for
    no expiry) replaces the expiry; by default it is kept. Raises TerminalNotFound, TenantInactive."""
    terminal = _working_terminal(terminal_id)
    if not terminal.tenant.is_active:
        raise TenantInactive(f"{terminal.tenant.name} is deactivated: its terminals cannot get new tokens.")
    prefix, secret = _new_token()
    changes = {"token_prefix": prefix, "token_hash": _hash(secret), "rotated_at": timezone.now()}
    if expires_at is not False:
        changes["expires_at"] = expires_at
    with all_tenants():
        if not Terminal.objects.filter(pk=terminal.pk, revoked_at__isnull=True).update(**changes):
            raise TerminalNotFound(f"No working terminal {terminal_id}.")
        before = {"token_prefix": terminal.token_prefix, "expires_at": terminal.expires_at}
        terminal.refresh_from_db()
    audit_record(tenant_id=terminal.tenant_id, action="terminal.rotated", actor=actor, object_type="terminal",
                 object_id=str(terminal.id), before=before,
                 after={"token_prefix": terminal.token_prefix, "expires_at": terminal.expires_at})
    return IssuedTerminal(terminal=terminal_identity(terminal, terminal.tenant.slug),
                          token=f"{TOKEN_PREFIX}_{prefix}_{secret}")


def terminal_find(*, tenant_id: uuid.UUID, name: str) -> Terminal:
    """The working terminal of this name in the restaurant. Raises TerminalNotFound."""
    with tenant_context(tenant_id):
        terminal = Terminal.objects.filter(name=name, revoked_at__isnull=True).first()
    if terminal is None:
        raise TerminalNotFound(f"No working terminal named {name!r}.")
    return terminal


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
    if terminal.expires_at is not None and terminal.expires_at <= timezone.now():
        raise InvalidToken("This terminal's token has expired.")
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


# --- imports (legacy splits) ----------------------------------------------------------------------------------

def tenant_import(*, slug: str, name: str, currency: str, locales: list[str], timezone_name: str) -> tuple[TenantInfo,
                                                                                                          bool]:
    """The restaurant with this slug, created if it does not exist (then True). An existing one is left as is."""
    import re
    import zoneinfo

    from .errors import InvalidImport

    errors = []
    if not isinstance(slug, str) or not re.fullmatch(r"[-a-zA-Z0-9_]{1,60}", slug):
        errors.append({"field": "slug", "message": "1-60 letters, digits, '-' or '_'."})
    if not isinstance(name, str) or not 0 < len(name.strip()) <= 200:
        errors.append({"field": "name", "message": "1-200 characters."})
    try:
        exponent = currency_exponent(currency)
    except (ValueError, TypeError):
        errors.append({"field": "currency", "message": f"Unsupported currency {currency!r}."})
        exponent = 0
    if (not isinstance(locales, list) or not locales
            or not all(isinstance(x, str) and re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})?", x) for x in locales)):
        errors.append({"field": "locales", "message": "A list of locale codes such as [\"en\", \"my\"]."})
    try:
        zoneinfo.ZoneInfo(timezone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
        errors.append({"field": "timezone", "message": f"Unknown time zone {timezone_name!r}."})
    if errors:
        raise InvalidImport("The restaurant is invalid: " + ", ".join(e["field"] for e in errors) + ".", errors=errors)
    existing = Tenant.objects.filter(slug=slug).first()
    if existing is not None:
        return tenant_info(existing), False
    try:
        with transaction.atomic(using=DB):
            tenant = Tenant.objects.create(name=name.strip(), slug=slug, currency=currency, currency_exponent=exponent,
                                           locales=list(locales), timezone=timezone_name)
    except IntegrityError:  # created at the same moment by another run
        return tenant_info(Tenant.objects.get(slug=slug)), False
    return tenant_info(tenant), True


def staff_import(*, tenant_id: uuid.UUID, staff: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """Create staff users in one transaction (one INSERT) with unusable passwords (each resets theirs).
    Returns the usernames created, already this tenant's, and taken by someone else."""
    from django.contrib.auth.hashers import make_password
    from django.contrib.auth.validators import UnicodeUsernameValidator
    from django.core.exceptions import ValidationError

    from .errors import InvalidImport

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        raise TenantNotFound(f"No tenant {tenant_id}.")
    errors: list[dict[str, str]] = []
    seen: set[str] = set()
    validator = UnicodeUsernameValidator()
    for index, member in enumerate(staff):
        at = f"staff[{index}]"
        if not isinstance(member, dict):
            errors.append({"field": at, "message": "Each member is an object."})
            continue
        username = member.get("username")
        try:
            if not isinstance(username, str) or not 0 < len(username) <= 150:
                raise ValidationError("1-150 characters.")
            validator(username)
        except ValidationError as exc:
            errors.append({"field": f"{at}.username", "message": " ".join(exc.messages)})
        if isinstance(username, str) and username.lower() in seen:
            errors.append({"field": f"{at}.username", "message": f"Duplicate username {username!r} in the batch."})
        seen.add(username.lower() if isinstance(username, str) else "")
        if member.get("role") not in Role.values:
            errors.append({"field": f"{at}.role", "message": f"One of {', '.join(Role.values)}."})
        if not isinstance(member.get("email", ""), str) or len(member.get("email", "")) > 254:
            errors.append({"field": f"{at}.email", "message": "At most 254 characters."})
    if errors:
        raise InvalidImport("The staff batch is invalid: " + ", ".join(dict.fromkeys(e["field"] for e in errors))
                            + ".", errors=errors)
    names = [member["username"] for member in staff]
    with transaction.atomic(using=DB):
        holders = {}
        for username, holder in User.objects.filter(username__in=names).values_list("username", "tenant_id"):
            holders[username] = holder
        new = [member for member in staff if member["username"] not in holders]
        User.objects.bulk_create([
            User(username=member["username"], email=member.get("email", ""),
                 first_name=str(member.get("first_name", ""))[:150], last_name=str(member.get("last_name", ""))[:150],
                 tenant_id=tenant.id, role=member["role"], is_staff=member["role"] == Role.MANAGER,
                 is_active=bool(member.get("is_active", True)), password=make_password(None))
            for member in new])
    created = [member["username"] for member in new]
    existing = [name for name in names if name in holders and holders[name] == tenant.id]
    taken = [name for name in names if name in holders and holders[name] != tenant.id]
    return created, existing, taken


def _jsonable(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder)) if value is not None else None


def audit_record(*, tenant_id: uuid.UUID, action: str, actor: Actor, object_type: str, object_id: str,
                 before: dict | None = None, after: dict | None = None) -> None:
    """Append one entry to the audit log (its own transaction in the accounts database)."""
    AuditEntry.unscoped.create(
        tenant_id=tenant_id, action=action[:60], actor=actor.label[:200], actor_id=str(actor.id)[:64],
        approved_by=actor.approved_by[:150], object_type=object_type[:60], object_id=str(object_id)[:100],
        before=_jsonable(before), after=_jsonable(after),
        request_id=str(pos_logging.context_fields().get("request_id", ""))[:128])
