"""Models of the restaurant module, in its own database: menus (windows, sections, items) and dining
tables with their tabs. Products and orders live in other modules and are referenced by plain ids."""

from __future__ import annotations

import uuid

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from pos.tenancy import TenantScopedModel

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = datetime.weekday()


class Menu(TenantScopedModel):
    """A named menu (breakfast, all day, drinks). Available when active and, if it has windows, inside one."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=120)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "name"], name="menu_name_per_tenant")]
        indexes = [models.Index(fields=["tenant_id", "is_active"], name="menu_tenant_active")]

    def __str__(self) -> str:
        return self.name


class MenuWindow(TenantScopedModel):
    """When a menu is served: some days of the week, from `starts_at` to `ends_at` (tenant's local time).

    A window never crosses midnight: `ends_at` must be after `starts_at` (a late-night menu is two windows)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="windows")
    mon = models.BooleanField(default=True)
    tue = models.BooleanField(default=True)
    wed = models.BooleanField(default=True)
    thu = models.BooleanField(default=True)
    fri = models.BooleanField(default=True)
    sat = models.BooleanField(default=True)
    sun = models.BooleanField(default=True)
    starts_at = models.TimeField()
    ends_at = models.TimeField()

    class Meta:
        ordering = ["starts_at"]
        constraints = [models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")),
                                              name="menu_window_ends_after_start")]

    def __str__(self) -> str:
        return f"{','.join(self.days) or 'no days'} {self.starts_at:%H:%M}-{self.ends_at:%H:%M}"

    @property
    def days(self) -> tuple[str, ...]:
        return tuple(day for day in WEEKDAYS if getattr(self, day))

    def clean(self) -> None:
        if self.starts_at is not None and self.ends_at is not None and self.ends_at <= self.starts_at:
            raise ValidationError({"ends_at": "The window must end after it starts (split a window that crosses "
                                              "midnight in two)."})
        if not self.days:
            raise ValidationError("Choose at least one day for the window.")


class MenuSection(TenantScopedModel):
    """An ordered part of a menu (Noodles, Drinks) with its name in each locale."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    menu = models.ForeignKey(Menu, on_delete=models.CASCADE, related_name="sections")
    names = models.JSONField(default=dict, help_text='Name per locale, e.g. {"en": "Noodles", "my": "ခေါက်ဆွဲ"}.')
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        indexes = [models.Index(fields=["menu", "position"], name="section_menu_position")]

    def __str__(self) -> str:
        return next(iter(self.names.values()), "section") if isinstance(self.names, dict) and self.names else "section"


class MenuItem(TenantScopedModel):
    """A product of inventory on a menu. `product_unavailable` is set when inventory deactivates the product."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    section = models.ForeignKey(MenuSection, on_delete=models.CASCADE, related_name="items")
    product_id = models.CharField(max_length=64, help_text="Inventory product id.")
    display_names = models.JSONField(default=dict, blank=True,
                                     help_text="Optional name per locale shown instead of the product's name.")
    position = models.PositiveIntegerField(default=0)
    product_unavailable = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["position", "id"]
        indexes = [
            models.Index(fields=["section", "position"], name="item_section_position"),
            models.Index(fields=["tenant_id", "product_id"], name="item_tenant_product"),
        ]

    def __str__(self) -> str:
        return self.product_id


class TableStatus(models.TextChoices):
    FREE = "free", "Free"
    OCCUPIED = "occupied", "Occupied"
    NEEDS_CLEANING = "needs_cleaning", "Needs cleaning"


class DiningTable(TenantScopedModel):
    """A table guests sit at. Occupied exactly while it has an open tab."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    code = models.CharField(max_length=20)
    area = models.CharField(max_length=60, blank=True, default="")
    seats = models.PositiveSmallIntegerField(default=4)
    status = models.CharField(max_length=20, choices=TableStatus.choices, default=TableStatus.FREE, editable=False)
    version = models.PositiveIntegerField(default=1, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        verbose_name = "dining table"
        constraints = [models.UniqueConstraint(fields=["tenant_id", "code"], name="table_code_per_tenant")]
        indexes = [
            models.Index(fields=["tenant_id", "area"], name="table_tenant_area"),
            models.Index(fields=["tenant_id", "status"], name="table_tenant_status"),
        ]

    def __str__(self) -> str:
        return self.code


class TabStatus(models.TextChoices):
    OPEN = "open", "Open"
    CLOSED = "closed", "Closed"
    MERGED = "merged", "Merged into another tab"


class Tab(TenantScopedModel):
    """The running bill of a table: the orders placed on it while guests sit there."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    table = models.ForeignKey(DiningTable, on_delete=models.PROTECT, related_name="tabs")
    status = models.CharField(max_length=10, choices=TabStatus.choices, default=TabStatus.OPEN)
    merged_into = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    opened_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at"]
        constraints = [models.UniqueConstraint(fields=["table"], condition=Q(status="open"),
                                               name="one_open_tab_per_table")]

    def __str__(self) -> str:
        return f"tab {self.id} ({self.status})"


class TabOrder(TenantScopedModel):
    """An order of pos_core (plain id) on a tab. An order sits on one tab only."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tab = models.ForeignKey(Tab, on_delete=models.CASCADE, related_name="orders")
    order_id = models.CharField(max_length=64)
    attached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["attached_at", "id"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "order_id"], name="order_on_one_tab")]

    def __str__(self) -> str:
        return self.order_id
