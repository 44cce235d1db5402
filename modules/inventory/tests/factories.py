"""Test data builders for inventory tests."""

from __future__ import annotations

import itertools

from modules.inventory import api

_n = itertools.count(1)


def names(en: str, my: str | None = None) -> dict[str, str]:
    return {"en": en, "my": my or f"{en} (my)"}


def category(tenant, name: str = "Noodles", **fields):
    return api.create_category(tenant_id=tenant.id, names=names(name), **fields)


def product(tenant, name: str | None = None, *, price: int = 2500, stock: int | dict | None = None, **fields):
    """A product; `stock` receives that much (an int for product-level, a dict per variant)."""
    name = name or f"Dish {next(_n)}"
    info = api.create_product(tenant_id=tenant.id, names=fields.pop("names", names(name)), price=price, **fields)
    if isinstance(stock, int):
        api.adjust_stock(tenant_id=tenant.id, product_id=info.id, variant=None, kind="receive", quantity=stock,
                         reason="test", actor="test")
    elif isinstance(stock, dict):
        for variant, quantity in stock.items():
            api.adjust_stock(tenant_id=tenant.id, product_id=info.id, variant=variant, kind="receive",
                             quantity=quantity, reason="test", actor="test")
    return api.get_product(tenant_id=tenant.id, product_id=info.id)


def sized(small: int = 2500, large: int = 3500) -> list[dict]:
    return [
        {"key": "small", "names": names("Small"), "price": small},
        {"key": "large", "names": names("Large"), "price": large},
    ]
