"""Models of the inventory module, in its own database ("inventory").

Portable across SQLite, PostgreSQL and MongoDB (django-mongodb-backend): explicit string or UUID primary
keys, nested data in JSONField, no many-to-many, no relation fields at all (ids are plain strings), and
no SQL-only lookups (text search goes through the denormalised lowercase `search_text`).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import F, Q

from pos.tenancy import TenantScopedModel


def new_id() -> str:
    return uuid.uuid4().hex


class Category(TenantScopedModel):
    id = models.CharField(primary_key=True, max_length=64, default=new_id)
    names = models.JSONField(default=dict, help_text='Name per locale, e.g. {"en": "Noodles", "my": "ခေါက်ဆွဲ"}.')
    position = models.IntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        verbose_name_plural = "categories"
        indexes = [models.Index(fields=["tenant_id", "position"], name="inv_category_order")]

    def __str__(self) -> str:
        return self.names.get("en") or next(iter(self.names.values()), self.id)


class Product(TenantScopedModel):
    """A product as a document: names, descriptions, variants (each with its option groups), product-level
    option groups and free-form attributes are nested JSON; `version` guards against lost updates."""

    id = models.CharField(primary_key=True, max_length=64, default=new_id)
    names = models.JSONField(default=dict)
    descriptions = models.JSONField(default=dict, blank=True)
    category_id = models.CharField(max_length=64, null=True, blank=True)
    position = models.IntegerField(default=0)
    price_amount = models.BigIntegerField(help_text="Base price in minor units of the currency.")
    price_currency = models.CharField(max_length=3)
    # [{"key", "names", "price", "option_groups": [...]}], price in minor units
    variants = models.JSONField(default=list, blank=True)
    # [{"key", "names", "min_select", "max_select", "choices": [{"key", "names", "price_delta"}]}]
    option_groups = models.JSONField(default=list, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    is_active = models.BooleanField(default=True)
    is_sold_out = models.BooleanField(default=False, help_text="Set by a manager when nothing may be sold.")
    track_stock = models.BooleanField(default=True)
    search_text = models.TextField(default="", blank=True, editable=False)  # lowercase names in every locale
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        # One index per filter of the catalog list, each ending in its order (position, id), so a page by
        # cursor or by offset reads only its rows. Name search has a trigram index on PostgreSQL (migration 0003).
        indexes = [
            models.Index(fields=["tenant_id", "position", "id"], name="inv_product_order"),
            models.Index(fields=["tenant_id", "category_id", "position", "id"], name="inv_product_category_order"),
            models.Index(fields=["tenant_id", "is_active", "position", "id"], name="inv_product_active_order"),
        ]

    def __str__(self) -> str:
        return self.names.get("en") or next(iter(self.names.values()), self.id)


class StockItem(TenantScopedModel):
    """Stock of one product (variant "") or one variant. `reserved` is held by active reservations;
    what can still be sold is on_hand - reserved. `sequence` grows with every change."""

    PRODUCT_LEVEL = ""  # the variant key of product-level stock (portable, unlike NULL in unique keys)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, default="", blank=True)
    on_hand = models.IntegerField(default=0)
    reserved = models.IntegerField(default=0)
    threshold = models.IntegerField(default=5, help_text="Low-stock alert at or below this many available.")
    sequence = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id", "variant"]
        constraints = [
            models.UniqueConstraint(fields=["tenant_id", "product_id", "variant"], name="inv_stock_item_unique"),
            models.CheckConstraint(condition=Q(on_hand__gte=0), name="inv_stock_on_hand_not_negative"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="inv_stock_reserved_not_negative"),
            models.CheckConstraint(condition=Q(reserved__lte=F("on_hand")), name="inv_stock_reserved_within_on_hand"),
        ]

    def __str__(self) -> str:
        return f"{self.product_id}/{self.variant}" if self.variant else self.product_id

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class Movement(TenantScopedModel):
    """The append-only stock ledger. Summing the deltas of a stock item gives its level."""

    class Kind(models.TextChoices):
        RECEIVE = "receive"
        SALE = "sale"
        WASTE = "waste"
        COUNT = "count"  # correction recorded by a physical count
        RESERVATION = "reservation"
        RELEASE = "release"
        RETURN = "return"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, default="", blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    quantity = models.IntegerField(help_text="The quantity the movement was about (always positive).")
    on_hand_delta = models.IntegerField(default=0)
    reserved_delta = models.IntegerField(default=0)
    on_hand_after = models.IntegerField()
    reserved_after = models.IntegerField()
    sequence = models.BigIntegerField()
    reason = models.CharField(max_length=200, blank=True, default="")
    actor = models.CharField(max_length=200, blank=True, default="")
    reference = models.CharField(max_length=100, blank=True, default="")  # reservation id, adjustment key
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["tenant_id", "product_id", "variant", "sequence"], name="inv_movement_item"),
            models.Index(fields=["tenant_id", "created_at"], name="inv_movement_time"),
            models.Index(fields=["tenant_id", "reference"], name="inv_movement_reference"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity} of {self.product_id}{'/' + self.variant if self.variant else ''}"


class AdjustmentKey(TenantScopedModel):
    """Makes adjust_stock idempotent by the caller's key: the primary key is "<tenant>:<key>"."""

    id = models.CharField(primary_key=True, max_length=300)
    product_id = models.CharField(max_length=64)
    variant = models.CharField(max_length=64, default="", blank=True)
    kind = models.CharField(max_length=20)
    quantity = models.IntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.id


class Reservation(TenantScopedModel):
    """Stock held for an order being placed. Lines are nested: [{"product_id", "variant", "quantity"}]."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        COMMITTED = "committed"
        RELEASED = "released"
        EXPIRED = "expired"
        RETURNED = "returned"  # committed, then taken back whole (an order that was not completed)

    id = models.CharField(primary_key=True, max_length=64, default=new_id)
    key = models.CharField(max_length=200)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    lines = models.JSONField(default=list)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["tenant_id", "key"], name="inv_reservation_key")]
        indexes = [models.Index(fields=["status", "expires_at"], name="inv_reservation_due")]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"
