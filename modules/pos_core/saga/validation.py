"""Validating an order request and pricing it: nothing is started for bad input. The result is the saga's
request document (lines with their product snapshots, totals, payment)."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings

from modules.accounts import api as accounts
from modules.payment import api as payment
from modules.restaurant import api as restaurant

from ..errors import InvalidOrder
from ..order_lines import MAX_QUANTITY, price_lines
from ..pricing import TaxPolicy, cash_rounding, compute_totals

MAX_LINES = settings.POS_ORDER_MAX_LINES
__all__ = ["MAX_LINES", "MAX_QUANTITY", "validate"]


def validate(*, tenant_id: uuid.UUID, data: Any, terminal_id: str = "") -> dict[str, Any]:
    """Check a counter order against the catalog (`order_lines`, the same checks as a table check's rounds), the
    tenant's settings and the tables, and price it. `data` has the shape the `OrderIn` serializer checked (types,
    limits); this checks the business rules. Returns the saga's request document. Raises InvalidOrder (400) or
    StockChanged (409 for sold-out items)."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str, code: str = "invalid") -> None:
        errors.append({"field": field, "message": message, "code": code})

    tenant = accounts.get_tenant(tenant_id)
    items = data.get("items")
    if not items:  # a table check may open empty; a counter order sells something
        bad("items", "An order needs at least one item.", "empty")
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
    if tendered is not None and method != "cash":
        bad("payment.tendered", "Only cash payments take a tendered amount.")
    note = data.get("note") or ""
    table_id = data.get("table_id")
    if errors:
        raise InvalidOrder("The order has invalid fields.", errors=errors)

    lines, priced = price_lines(tenant_id=tenant_id, currency=tenant.currency, items=items)
    for line in lines:  # seats and notes are for table checks' rounds
        del line["seat"], line["note"]

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
