"""Round lines: checked against the catalog and priced on the server at the moment they are added.

One `inventory.get_products` call per round. A line keeps the product as it was (names in every locale,
category, options with their price deltas, the whole document), like a counter order's items."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from modules.inventory import api as inventory
from pos.money import Money

from ..errors import InvalidOrder, StockChanged
from ..pricing import PricedLine

MAX_QUANTITY = 999
MAX_SEAT = 99


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def price_round(*, tenant_id: uuid.UUID, currency: str, items: Any) -> list[dict[str, Any]]:
    """The priced lines of a round. Raises InvalidOrder (400, every bad field listed) or StockChanged (409)
    for sold-out items."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str, code: str = "invalid") -> None:
        errors.append({"field": field, "message": message, "code": code})

    if not isinstance(items, list) or not items:
        raise InvalidOrder("A round needs at least one item.", errors=[
            {"field": "items", "message": "Send at least one item.", "code": "empty"}])
    if len(items) > settings.POS_ORDER_MAX_LINES:
        raise InvalidOrder(f"A round has at most {settings.POS_ORDER_MAX_LINES} lines.", errors=[
            {"field": "items", "message": f"At most {settings.POS_ORDER_MAX_LINES} lines.", "code": "too_many_lines"}])
    for index, item in enumerate(items):
        field = f"items[{index}]"
        if not isinstance(item, dict):
            bad(field, "Each item must be an object.")
            continue
        quantity = item.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            bad(f"{field}.quantity", "Quantity must be a whole number.", "not_integer")
        elif not 0 < quantity <= MAX_QUANTITY:
            bad(f"{field}.quantity", f"Quantity must be between 1 and {MAX_QUANTITY}.", "out_of_range")
        if not isinstance(item.get("product_id"), str) or not item.get("product_id"):
            bad(f"{field}.product_id", "Name a product.", "required")
        if item.get("variant") is not None and not isinstance(item.get("variant"), str):
            bad(f"{field}.variant", "variant must be a variant key.")
        if not isinstance(item.get("options") or [], list):
            bad(f"{field}.options", "options must be a list.")
        seat = item.get("seat")
        if seat is not None and (isinstance(seat, bool) or not isinstance(seat, int) or not 1 <= seat <= MAX_SEAT):
            bad(f"{field}.seat", f"seat must be a whole number from 1 to {MAX_SEAT}.")
        note = item.get("note") or ""
        if not isinstance(note, str) or len(note) > 200:
            bad(f"{field}.note", "The note must be text of at most 200 characters.")
    if errors:
        raise InvalidOrder("The round has invalid fields.", errors=errors)

    products = inventory.get_products(tenant_id=tenant_id, product_ids=list(dict.fromkeys(i["product_id"]
                                                                                          for i in items)))
    lines: list[dict[str, Any]] = []
    sold_out: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        field = f"items[{index}]"
        product = products.get(item["product_id"])
        if product is None:
            bad(f"{field}.product_id", f"Unknown product {item['product_id']!r}.", "unknown_product")
            continue
        if not product.is_active:
            bad(f"{field}.product_id", f"{product.id!r} is not on sale.", "inactive_product")
            continue
        variant_key = item.get("variant")
        variant = None
        if variant_key is not None:
            variant = next((v for v in product.variants if v.key == variant_key), None)
            if variant is None:
                bad(f"{field}.variant", f"{product.id!r} has no variant {variant_key!r}.", "unknown_variant")
                continue
        elif product.variants:
            bad(f"{field}.variant", f"Choose a variant of {product.id!r}: "
                f"{', '.join(v.key for v in product.variants)}.", "variant_required")
            continue
        price = variant.price if variant is not None else product.price
        if price.currency != currency:
            bad(f"{field}.product_id", f"{product.id!r} is priced in {price.currency}, not {currency}.")
            continue
        groups = list(product.option_groups) + (list(variant.option_groups) if variant is not None else [])
        chosen, option_errors = choose_options(groups, item.get("options") or [])
        for message in option_errors:
            bad(f"{field}.options", message, "invalid_options")
        if option_errors:
            continue
        level = variant.stock_level if variant is not None else product.stock_level
        if product.is_sold_out or getattr(variant, "is_sold_out", False) or (level is not None and level <= 0):
            sold_out.append({"product_id": product.id, "variant": variant_key, "requested": item["quantity"],
                             "available": max(level or 0, 0)})
            continue
        priced = PricedLine(unit_price=price, option_deltas=tuple(c["delta"] for c in chosen),
                            quantity=item["quantity"])
        lines.append({
            "product_id": product.id, "variant": variant_key, "product_names": dict(product.names),
            "variant_names": dict(variant.names) if variant is not None else {},
            "category_id": product.category_id, "category_names": dict(product.category_names or {}),
            "options": [{"group": c["group"], "group_names": c["group_names"], "key": c["key"], "names": c["names"],
                         "price_delta": c["delta"].amount} for c in chosen],
            "unit_price": price.amount, "options_total": priced.options_total.amount, "quantity": priced.quantity,
            "line_total": priced.line_total.amount, "product_version": product.version,
            "seat": item.get("seat"), "note": item.get("note") or "", "snapshot": _jsonable(product),
        })
    if errors:
        raise InvalidOrder("The round names products, variants or options that are not available.", errors=errors)
    if sold_out:
        raise StockChanged(lines=sold_out)
    return lines


def choose_options(groups: list, requested: list) -> tuple[list[dict[str, Any]], list[str]]:
    """Resolve requested options ("choice" or {"group", "choice"}) against the option groups; check min/max."""
    errors: list[str] = []
    chosen: list[dict[str, Any]] = []
    by_group: dict[str, int] = {g.key: 0 for g in groups}
    for entry in requested:
        group_key = None
        if isinstance(entry, dict):
            group_key, choice_key = entry.get("group"), entry.get("choice") or entry.get("key")
        else:
            choice_key = entry
        if not isinstance(choice_key, str):
            errors.append(f"Option {entry!r} is not a choice key.")
            continue
        matches = [(g, c) for g in groups if group_key in (None, g.key) for c in g.choices if c.key == choice_key]
        if not matches:
            errors.append(f"Unknown option {choice_key!r}" + (f" in group {group_key!r}." if group_key else "."))
            continue
        if len(matches) > 1:
            errors.append(f"Option {choice_key!r} is in several groups; name its group.")
            continue
        group, choice = matches[0]
        if any(c["group"] == group.key and c["key"] == choice.key for c in chosen):
            errors.append(f"Option {choice_key!r} is chosen twice.")
            continue
        by_group[group.key] += 1
        chosen.append({"group": group.key, "group_names": dict(group.names), "key": choice.key,
                       "names": dict(choice.names), "delta": choice.price_delta})
    for group in groups:
        count = by_group[group.key]
        if count < group.min_select:
            errors.append(f"Choose at least {group.min_select} of {group.key!r}.")
        if group.max_select and count > group.max_select:
            errors.append(f"Choose at most {group.max_select} of {group.key!r}.")
    return chosen, errors


def stock_lines(lines: list[dict[str, Any]]) -> list:
    """The round's lines merged per product/variant, as inventory reserves them."""
    quantities: dict[tuple[str, str | None], int] = {}
    for line in lines:
        key = (line["product_id"], line["variant"])
        quantities[key] = quantities.get(key, 0) + line["quantity"]
    return [inventory.StockLine(product_id=p, variant=v, quantity=q) for (p, v), q in quantities.items()]
