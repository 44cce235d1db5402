from __future__ import annotations

import uuid
from decimal import Decimal

from django.contrib.auth.models import AbstractUser, UserManager
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from pos.api import permissions
from pos.tenancy import TenantManager, TenantScopedModel


class Role(models.TextChoices):
    MANAGER = "manager", "Manager"
    CASHIER = "cashier", "Cashier"
    WAITER = "waiter", "Waiter"


def default_locales() -> list[str]:
    return ["en", "my"]


def default_payment_methods() -> list[str]:
    return ["cash", "card", "kbzpay", "wavepay"]


class Tenant(models.Model):
    """A restaurant. Every other row in every module carries one of these ids."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=60, unique=True)
    currency = models.CharField(max_length=3, default="MMK")
    currency_exponent = models.PositiveSmallIntegerField(default=0, help_text="Minor-unit digits: MMK 0, USD 2.")
    locales = models.JSONField(default=default_locales, help_text='Locales every product name needs, e.g. ["en", "my"].')
    timezone = models.CharField(max_length=64, default="Asia/Yangon")
    cash_rounding_unit = models.PositiveIntegerField(default=50, help_text="Cash totals round to this many minor units.")
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("5.00"),
                                   validators=[MinValueValidator(0), MaxValueValidator(100)])
    tax_inclusive = models.BooleanField(default=True, help_text="Prices already include tax.")
    service_charge_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0.00"),
                                              validators=[MinValueValidator(0), MaxValueValidator(100)])
    payment_methods = models.JSONField(default=default_payment_methods)
    require_open_shift_for_cash = models.BooleanField(
        default=False, help_text="Refuse cash payments on a terminal whose cash drawer has no open shift.")
    cash_max_change = models.PositiveBigIntegerField(
        default=100_000, help_text="The most change a cashier hands back (minor units): cash tendered above the "
                                   "amount due plus this is refused as a typing mistake.")
    refund_approval_limit = models.PositiveBigIntegerField(
        default=50_000, help_text="Refunds above this (minor units) need a manager terminal, or a manager's "
                                  "approval code on a cashier terminal.")
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """Staff. A manager signs in to the admin and sees only their tenant; superusers see every tenant."""

    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.MANAGER)
    # A manager's approval code (hashed like a password): typed on a cashier terminal to approve a stock count or
    # a refund above the restaurant's limit (pos.api.permissions).
    approval_code_hash = models.CharField(max_length=128, blank=True, default="", editable=False)

    objects = UserManager()

    def _is_manager(self) -> bool:
        return self.is_active and self.is_staff and self.role == Role.MANAGER and self.tenant_id is not None

    # What a manager may do in the admin is part of the one permission matrix (pos.api.permissions.ADMIN).
    def has_perm(self, perm: str, obj=None) -> bool:
        if self.is_active and self.is_superuser:
            return True
        if not self._is_manager():
            return False
        app_label, _, codename = perm.partition(".")
        return permissions.admin_allows(app_label, codename)

    def has_module_perms(self, app_label: str) -> bool:
        if self.is_active and self.is_superuser:
            return True
        return self._is_manager() and permissions.admin_module_allowed(app_label)


class Terminal(TenantScopedModel):
    """A POS device. Its API token is shown once and stored only as a hash."""

    tenant_id = None  # the tenant is a real relation inside this module
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="terminals")
    name = models.CharField(max_length=100)
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CASHIER,
                            help_text="What this device may do: a waiter's phone cannot adjust stock.")
    token_prefix = models.CharField(max_length=16, unique=True, editable=False)
    token_hash = models.CharField(max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    expires_at = models.DateTimeField(null=True, blank=True,
                                      help_text="Optional: the token stops working at this time.")
    rotated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name"]
        # A name is unique among the restaurant's working terminals: a revoked terminal's name can be reused.
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], condition=models.Q(revoked_at__isnull=True),
                                               name="terminal_name_per_tenant_active")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit log is append-only.")

    def delete(self):
        raise PermissionError("The audit log is append-only.")


class AuditManager(TenantManager.from_queryset(AuditQuerySet)):  # type: ignore[misc]
    pass


class AuditEntry(TenantScopedModel):
    """One entry of the append-only audit log: who did what, when, from which terminal or admin user, with the
    values before and after. Written through accounts' api `audit()` by every module; never changed or deleted."""

    id = models.BigAutoField(primary_key=True)
    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=60, db_index=True,
                              help_text="What happened, e.g. order.refunded, stock.count, product.changed.")
    actor = models.CharField(max_length=200, help_text="terminal:<name>, user:<username> or system:<process>.")
    actor_id = models.CharField(max_length=64, blank=True, help_text="The terminal's or user's id.")
    approved_by = models.CharField(max_length=150, blank=True, help_text="The manager who approved it, if any.")
    object_type = models.CharField(max_length=60)
    object_id = models.CharField(max_length=100, db_index=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    request_id = models.CharField(max_length=128, blank=True)

    objects = AuditManager()
    unscoped = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "audit entry"
        verbose_name_plural = "audit log"
        indexes = [models.Index(fields=["tenant_id", "at"], name="audit_tenant_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.action} {self.object_type} {self.object_id} by {self.actor}"

    def save(self, *args, **kwargs) -> None:
        if not self._state.adding:
            raise PermissionError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit log is append-only.")
