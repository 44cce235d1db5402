"""Plain data the restaurant module hands out: never model instances."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from pos.money import Money


@dataclass(frozen=True)
class WindowSpec:
    """Input and output shape of an availability window (tenant's local time, never crossing midnight)."""

    days: tuple[str, ...]  # "mon".."sun"
    starts_at: time
    ends_at: time


@dataclass(frozen=True)
class ItemSpec:
    product_id: str
    display_names: dict[str, str] = field(default_factory=dict)
    position: int | None = None


@dataclass(frozen=True)
class SectionSpec:
    names: dict[str, str]
    items: tuple[ItemSpec, ...] = ()
    position: int | None = None


@dataclass(frozen=True)
class MenuItemInfo:
    id: str
    product_id: str
    display_names: dict[str, str]
    position: int
    product_unavailable: bool


@dataclass(frozen=True)
class MenuSectionInfo:
    id: str
    names: dict[str, str]
    position: int
    items: tuple[MenuItemInfo, ...]


@dataclass(frozen=True)
class MenuInfo:
    """A menu as stored (no prices): what managers edit."""

    id: str
    name: str
    is_active: bool
    windows: tuple[WindowSpec, ...]
    sections: tuple[MenuSectionInfo, ...]


# --- What a terminal reads: the menu joined (in Python) with inventory's current data -------------------

@dataclass(frozen=True)
class OptionChoiceView:
    key: str
    names: dict[str, str]
    price_delta: Money


@dataclass(frozen=True)
class OptionGroupView:
    key: str
    names: dict[str, str]
    min_select: int
    max_select: int
    choices: tuple[OptionChoiceView, ...]


@dataclass(frozen=True)
class VariantView:
    key: str
    names: dict[str, str]
    price: Money
    stock_level: int | None
    is_sold_out: bool = False
    option_groups: tuple[OptionGroupView, ...] = ()


@dataclass(frozen=True)
class MenuItemView:
    id: str
    product_id: str
    names: dict[str, str]  # the product's names with the menu's overrides on top
    position: int
    price: Money
    is_sold_out: bool
    stock_level: int | None
    category_id: str | None
    variants: tuple[VariantView, ...]
    option_groups: tuple[OptionGroupView, ...]


@dataclass(frozen=True)
class MenuSectionView:
    id: str
    names: dict[str, str]
    position: int
    items: tuple[MenuItemView, ...]


@dataclass(frozen=True)
class MenuView:
    id: str
    name: str
    available_now: bool
    windows: tuple[WindowSpec, ...]
    sections: tuple[MenuSectionView, ...]


@dataclass(frozen=True)
class TableInfo:
    id: str
    code: str
    area: str
    seats: int
    status: str  # free | occupied | needs_cleaning
    open_order_ids: tuple[str, ...]
    tab_id: str | None = None  # the open tab, if any
    version: int = 1
    updated_at: datetime | None = None
