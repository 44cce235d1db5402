"""The lines of an order, a counter order's or a table check's round alike: checked against the catalog and
priced on the server at the moment they are sent, in one `inventory.get_products` call.

The request's shape (types, required fields, the limits below) is the HTTP serializers' to check, and so the
schema's to document; what is checked here is what only the catalog knows: the product exists and is on sale,
the variant and the options exist and fit their groups, the price is in the restaurant's currency, the item is not
sold out. A line keeps the product as it was (names in every locale, category, options with their price deltas,
the whole document)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from modules.inventory import api as inventory
from pos.money import Money

from .errors import InvalidOrder, StockChanged
from .pricing import PricedLine

# The limits of a line and of an order, stated once: the serializers enforce them and the schema shows them.
MAX_QUANTITY = 999
MAX_SEAT = 99
MAX_ITEM_NOTE = 200
MAX_ORDER_NOTE = 500


def jsonable(value: Any) -> Any:
    """A product document (dataclasses, Money, dates, decimals) as plain JSON, for the line's snapshot."""
    if isinstance(value, Money):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


def price_lines(*, tenant_id: uuid.UUID, currency: str, items: list[dict[str, Any]], what: str = "order"
                ) -> tuple[list[dict[str, Any]], list[PricedLine]]:
    """The priced lines of an order or a round (each with its snapshot, seat and note) and their prices.
    `items` has the shape the serializers checked. Raises InvalidOrder (400, every bad line listed, fields
    `items[i].product_id|variant|options`) or StockChanged (409) for sold-out items."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str, code: str = "invalid") -> None:
        errors.append({"field": field, "message": message, "code": code})

    products = inventory.get_products(tenant_id=tenant_id, product_ids=list(dict.fromkeys(i["product_id"]
                                                                                          for i in items)))
    lines: list[dict[str, Any]] = []
    priced: list[PricedLine] = []
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
        line = PricedLine(unit_price=price, option_deltas=tuple(c["delta"] for c in chosen), quantity=item["quantity"])
        priced.append(line)
        lines.append({
            "product_id": product.id, "variant": variant_key, "product_names": dict(product.names),
            "variant_names": dict(variant.names) if variant is not None else {},
            "category_id": product.category_id, "category_names": dict(product.category_names or {}),
            "options": [{"group": c["group"], "group_names": c["group_names"], "key": c["key"], "names": c["names"],
                         "price_delta": c["delta"].amount} for c in chosen],
            "unit_price": price.amount, "options_total": line.options_total.amount, "quantity": line.quantity,
            "line_total": line.line_total.amount, "product_version": product.version,
            "seat": item.get("seat"), "note": item.get("note") or "", "snapshot": jsonable(product),
        })
    if errors:
        raise InvalidOrder(f"The {what} names products, variants or options that are not available.", errors=errors)
    if sold_out:
        raise StockChanged(lines=sold_out)
    return lines, priced


def choose_options(groups: list, requested: list) -> tuple[list[dict[str, Any]], list[str]]:
    """Resolve the requested options ("choice" or {"group", "choice"}) against the option groups and check each
    group's min/max."""
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


def stock_lines(lines: list[dict[str, Any]]) -> list[inventory.StockLine]:
    """Priced lines merged per product/variant, as inventory reserves them."""
    quantities: dict[tuple[str, str | None], int] = {}
    for line in lines:
        key = (line["product_id"], line["variant"])
        quantities[key] = quantities.get(key, 0) + line["quantity"]
    return [inventory.StockLine(product_id=p, variant=v, quantity=q) for (p, v), q in quantities.items()]
