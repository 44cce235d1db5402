"""Validating an order request and pricing it: nothing is started for bad input. The result is the saga's
request document (lines with their product snapshots, totals, payment)."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.restaurant import api as restaurant
from pos.money import Money

from ..errors import InvalidOrder, StockChanged
from ..pricing import PricedLine, TaxPolicy, cash_rounding, compute_totals

MAX_LINES = settings.POS_ORDER_MAX_LINES
MAX_QUANTITY = 999


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


def validate(*, tenant_id: uuid.UUID, data: Any, terminal_id: str = "") -> dict[str, Any]:
    """Check an order request against the catalog, the tenant's settings and the tables, and price it.
    Returns the saga's request document. Raises InvalidOrder (400) or StockChanged (409 for sold-out items)."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str, code: str = "invalid") -> None:
        errors.append({"field": field, "message": message, "code": code})

    if not isinstance(data, dict):
        raise InvalidOrder("The order must be a JSON object.", errors=[{"field": "__all__", "message": "Expected an object.",
                                                                       "code": "invalid"}])
    tenant = accounts.get_tenant(tenant_id)
    items = data.get("items")
    if not isinstance(items, list) or not items:
        bad("items", "An order needs at least one item.", "empty")
    elif len(items) > MAX_LINES:
        bad("items", f"An order can have at most {MAX_LINES} lines.", "too_many_lines")
    pay = data.get("payment")
    method = pay.get("method") if isinstance(pay, dict) else None
    if not isinstance(method, str) or not method:
        bad("payment.method", "Name a payment method.", "required")
    else:
        accepted = payment.accepted_methods(tenant_id=tenant_id)
        if method not in accepted:
            bad("payment.method", f"{method!r} is not accepted here; accepted: {', '.join(accepted)}.",
                "method_not_accepted")
    tendered = pay.get("tendered") if isinstance(pay, dict) else None
    if tendered is not None:
        if isinstance(tendered, bool) or not isinstance(tendered, int) or tendered <= 0:
            bad("payment.tendered", "Tendered must be a positive integer number of minor units.")
        elif method != "cash":
            bad("payment.tendered", "Only cash payments take a tendered amount.")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 500:
        bad("note", "The note must be text of at most 500 characters.")
    table_id = data.get("table_id")
    if table_id is not None and (not isinstance(table_id, str) or not table_id):
        bad("table_id", "table_id must be a table's id.")
    parsed: list[tuple[int, dict]] = []
    if isinstance(items, list) and 0 < len(items) <= MAX_LINES:
        for index, item in enumerate(items):
            field = f"items[{index}]"
            if not isinstance(item, dict):
                bad(field, "Each item must be an object.")
                continue
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                bad(f"{field}.quantity", "Quantity must be a whole number.", "not_integer")
            elif quantity <= 0:
                bad(f"{field}.quantity", "Quantity must be at least 1.", "not_positive")
            elif quantity > MAX_QUANTITY:
                bad(f"{field}.quantity", f"Quantity must be at most {MAX_QUANTITY}.", "too_large")
            if not isinstance(item.get("product_id"), str) or not item.get("product_id"):
                bad(f"{field}.product_id", "Name a product.", "required")
            variant = item.get("variant")
            if variant is not None and not isinstance(variant, str):
                bad(f"{field}.variant", "variant must be a variant key.")
            options = item.get("options", [])
            if options is None:
                options = []
            if not isinstance(options, list):
                bad(f"{field}.options", "options must be a list.")
            parsed.append((index, item))
    if errors:
        raise InvalidOrder("The order has invalid fields.", errors=errors)

    products = inventory.get_products(tenant_id=tenant_id, product_ids=list(dict.fromkeys(i["product_id"]
                                                                                          for _, i in parsed)))
    lines: list[dict[str, Any]] = []
    priced: list[PricedLine] = []
    sold_out: list[dict[str, Any]] = []
    for index, item in parsed:
        field = f"items[{index}]"
        product = products.get(item["product_id"])
        if product is None:
            bad(f"{field}.product_id", f"Unknown product {item['product_id']!r}.", "unknown_product")
            continue
        if not product.is_active:
            bad(f"{field}.product_id", f"{item['product_id']!r} is not on sale.", "inactive_product")
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
        if price.currency != tenant.currency:
            bad(f"{field}.product_id", f"{product.id!r} is priced in {price.currency}, not {tenant.currency}.")
            continue
        groups = list(product.option_groups) + (list(variant.option_groups) if variant is not None else [])
        chosen, option_errors = _choose_options(groups, item.get("options") or [])
        for message in option_errors:
            bad(f"{field}.options", message, "invalid_options")
        if option_errors:
            continue
        level = variant.stock_level if variant is not None else product.stock_level
        if product.is_sold_out or getattr(variant, "is_sold_out", False) or (level is not None and level <= 0):
            sold_out.append({"product_id": product.id, "variant": variant_key, "requested": item["quantity"],
                             "available": max(level or 0, 0)})
            continue
        line = PricedLine(unit_price=price, option_deltas=tuple(choice["delta"] for choice in chosen),
                          quantity=item["quantity"])
        priced.append(line)
        lines.append({
            "product_id": product.id, "variant": variant_key, "product_names": dict(product.names),
            "variant_names": dict(variant.names) if variant is not None else {},
            "category_id": product.category_id, "category_names": dict(product.category_names or {}),
            "options": [{"group": c["group"], "group_names": c["group_names"], "key": c["key"], "names": c["names"],
                         "price_delta": c["delta"].amount} for c in chosen],
            "unit_price": price.amount, "options_total": line.options_total.amount, "quantity": line.quantity,
            "line_total": line.line_total.amount, "product_version": product.version,
            "snapshot": _jsonable(product),
        })
    if errors:
        raise InvalidOrder("The order names products, variants or options that are not available.", errors=errors)
    if sold_out:
        raise StockChanged(lines=sold_out)

    table_code = ""
    if table_id is not None:
        try:
            table = restaurant.get_table(tenant_id=tenant_id, table_id=table_id)
        except restaurant.TableNotFound:
            raise InvalidOrder("Unknown table.", errors=[{"field": "table_id", "message": f"No table {table_id!r}.",
                                                          "code": "unknown_table"}]) from None
        table_code = getattr(table, "code", "") or ""

    policy = TaxPolicy(tax_rate=tenant.tax_rate, tax_inclusive=tenant.tax_inclusive,
                       service_charge_rate=tenant.service_charge_rate)
    totals = compute_totals(priced, policy, tenant.currency)
    if method == "cash" and tendered is not None:
        due = totals.total + cash_rounding(totals.total, tenant.cash_rounding_unit)
        if tendered < due.amount:
            raise InvalidOrder("Not enough cash tendered.", errors=[{
                "field": "payment.tendered", "message": f"At least {due.amount} is due.", "code": "insufficient_tender"}],
                due=due.amount)
        if tendered > due.amount + tenant.cash_max_change:
            raise InvalidOrder("Too much cash tendered.", errors=[{
                "field": "payment.tendered", "code": "excessive_tender",
                "message": f"At most {due.amount + tenant.cash_max_change} ({due.amount} due plus at most "
                           f"{tenant.cash_max_change} change) can be tendered."}], due=due.amount)
    if method == "cash" and tenant.require_open_shift_for_cash:
        # refused before anything is reserved; the charge checks again under the shift's lock
        payment.check_cash_shift(tenant_id=tenant_id, terminal_id=terminal_id)
    return {
        "currency": tenant.currency, "locales": list(tenant.locales), "table_id": table_id, "table_code": table_code,
        "note": note, "terminal_id": terminal_id,
        "payment": {"method": method, "tendered": tendered},
        "policy": {"tax_rate": str(tenant.tax_rate), "tax_inclusive": tenant.tax_inclusive,
                   "service_charge_rate": str(tenant.service_charge_rate)},
        "totals": {"subtotal": totals.subtotal.amount, "service_charge": totals.service_charge.amount,
                   "tax": totals.tax.amount, "total": totals.total.amount},
        "lines": lines,
    }


def _choose_options(groups: list, requested: list) -> tuple[list[dict[str, Any]], list[str]]:
    """Resolve the requested options ("choice" or {"group", "choice"}) against the option groups and check
    each group's min/max."""
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
