"""Plain data the inventory module hands to other modules: frozen dataclasses, never model instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pos.money import Money


@dataclass(frozen=True)
class OptionChoiceInfo:
    key: str
    names: dict[str, str]
    price_delta: Money


@dataclass(frozen=True)
class OptionGroupInfo:
    """A modifier group (e.g. toppings): pick between min_select and max_select of its choices."""

    key: str
    names: dict[str, str]
    min_select: int
    max_select: int
    choices: tuple[OptionChoiceInfo, ...]


@dataclass(frozen=True)
class VariantInfo:
    key: str
    names: dict[str, str]
    price: Money
    stock_level: int | None  # available (on hand minus reserved); None when stock is not tracked
    option_groups: tuple[OptionGroupInfo, ...]
    is_sold_out: bool = False  # nothing left to sell (flag or stock)


@dataclass(frozen=True)
class ProductInfo:
    id: str
    names: dict[str, str]
    category_id: str | None
    category_names: dict[str, str]
    price: Money
    is_active: bool
    is_sold_out: bool  # the manager's flag, or no tracked stock left to sell
    stock_level: int | None  # None = not tracked at product level (untracked, or tracked per variant)
    variants: tuple[VariantInfo, ...]
    option_groups: tuple[OptionGroupInfo, ...]
    version: int
    descriptions: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    track_stock: bool = True
    updated_at: datetime | None = None

    def variant(self, key: str) -> VariantInfo | None:
        return next((v for v in self.variants if v.key == key), None)


@dataclass(frozen=True)
class CategoryInfo:
    id: str
    names: dict[str, str]
    position: int
    is_active: bool


@dataclass(frozen=True)
class CatalogPage:
    total: int
    items: tuple[ProductInfo, ...]


@dataclass(frozen=True)
class StockLine:
    product_id: str
    variant: str | None
    quantity: int


@dataclass(frozen=True)
class StockLevelInfo:
    product_id: str
    variant: str | None
    on_hand: int
    reserved: int
    available: int
    threshold: int
    sequence: int

    @property
    def is_low(self) -> bool:
        return self.available <= self.threshold


@dataclass(frozen=True)
class ReservationInfo:
    id: str
    key: str
    status: str  # active | committed | released | expired
    lines: tuple[StockLine, ...]
    expires_at: datetime


@dataclass(frozen=True)
class ImportResult:
    """What a batched import did: `ids` maps every requested id to the id the row has (an id another restaurant
    holds is prefixed, as for create_product); `created` and `existing` list the requested ids of each kind."""

    ids: dict[str, str]
    created: tuple[str, ...]
    existing: tuple[str, ...]


@dataclass(frozen=True)
class MovementInfo:
    """One row of the stock ledger."""

    id: str
    product_id: str
    variant: str | None
    kind: str
    quantity: int
    on_hand_delta: int
    reserved_delta: int
    on_hand_after: int
    reserved_after: int
    sequence: int
    reason: str
    actor: str
    reference: str
    created_at: datetime
