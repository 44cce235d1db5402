"""A receipt in each of the tenant's locales, from the order's snapshots only (never today's catalog)."""

from __future__ import annotations

import zoneinfo
from typing import Any

from django.db.models import Q

from pos.money import Money

from .models import Order, OrderPayment, OrderPaymentStatus

LABELS = {
    "en": {"order": "Order", "table": "Table", "subtotal": "Subtotal", "service_charge": "Service charge",
           "tax_included": "Tax included", "tax": "Tax", "rounding": "Rounding", "total": "Total",
           "paid": "Paid", "tendered": "Tendered", "change": "Change", "refunded": "Refunded",
           "discount": "Comps and discounts", "tip": "Tip", "tip_refunded": "Tip given back", "due": "Due"},
    "my": {"order": "အော်ဒါ", "table": "စားပွဲ", "subtotal": "စုစုပေါင်း", "service_charge": "ဝန်ဆောင်ခ",
           "tax_included": "အခွန်ပါဝင်ပြီး", "tax": "အခွန်", "rounding": "အနီးစပ်ဆုံးညှိ", "total": "စုစုပေါင်းကျသင့်ငွေ",
           "paid": "ပေးချေပြီး", "tendered": "လက်ခံငွေ", "change": "ပြန်အမ်းငွေ", "refunded": "ပြန်အမ်းပြီး",
           "discount": "အခမဲ့နှင့်လျှော့ဈေး", "tip": "ဆုကြေး", "tip_refunded": "ဆုကြေး ပြန်အမ်းပြီး",
           "due": "ပေးရန်ကျန်"},
}


def _name(names: dict[str, str], locale: str) -> str:
    return names.get(locale) or names.get("en") or next(iter(names.values()), "")


def _tenders(order: Order) -> list[dict[str, Any]]:
    """A table check's captured tenders (a split check's come from its parts), oldest first."""
    if order.service != "table":
        return []
    rows = OrderPayment.objects.filter(Q(order=order) | Q(order__parent=order), status=OrderPaymentStatus.CAPTURED)
    return [{"method": p.method, "amount": p.amount + p.rounding, "tip": p.tip, "tip_refunded": p.tip_refunded}
            for p in rows.order_by("created_at")]


def build_receipt(order: Order, *, restaurant: str, locales: list[str], timezone: str) -> dict[str, Any]:
    c = order.currency
    placed = order.placed_at.astimezone(zoneinfo.ZoneInfo(timezone))
    lines = [{
        "quantity": item.quantity,
        "names": {loc: _name(item.product_names, loc) + (f" ({_name(item.variant_names, loc)})"
                                                          if item.variant_names else "") for loc in locales},
        "options": [{"names": {loc: _name(o["names"], loc) for loc in locales},
                     "price_delta": Money(o["price_delta"], c).format()} for o in item.options],
        "unit_price": Money(item.unit_price + item.options_total, c).format(),
        "line_total": Money(item.line_total, c).format(),
    } for item in order.items.all() if item.quantity > 0]  # a line voided whole was never sold
    totals: list[tuple[str, int]] = [("subtotal", order.subtotal)]
    if order.discount:
        totals.append(("discount", -order.discount))
    if order.service_charge:
        totals.append(("service_charge", order.service_charge))
    totals.append(("tax_included" if order.tax_inclusive else "tax", order.tax))
    if order.rounding:
        totals.append(("rounding", order.rounding))
    totals.append(("total", order.grand_total))
    if order.refunded:
        totals.append(("refunded", -order.refunded))
    tenders = _tenders(order)
    text: dict[str, str] = {}
    for loc in locales:
        labels = LABELS.get(loc, LABELS["en"])
        out = [restaurant, f"{labels['order']} {order.number}  {placed:%Y-%m-%d %H:%M}"]
        if order.table_code or order.table_id:
            out.append(f"{labels['table']} {order.table_code or order.table_id}")
        out.append("-" * 32)
        for line in lines:
            out.append(f"{line['quantity']} x {line['names'][loc]}  {line['line_total']}")
            out.extend(f"   + {opt['names'][loc]} {opt['price_delta']}" for opt in line["options"])
        out.append("-" * 32)
        out.extend(f"{labels[key]}: {Money(amount, c).format()}" for key, amount in totals)
        if order.service == "table":  # paid by its tenders; while open, what is still due
            for tender in tenders:
                out.append(f"{labels['paid']} ({tender['method']}): {Money(tender['amount'], c).format()}")
                if tender["tip"]:
                    out.append(f"   {labels['tip']}: {Money(tender['tip'], c).format()}")
                if tender["tip_refunded"]:  # given back on the payment side: the guest did not leave it
                    out.append(f"   {labels['tip_refunded']}: {Money(tender['tip_refunded'], c).format()}")
            if order.status == "open":
                out.append(f"{labels['due']}: {Money(max(order.grand_total - order.paid, 0), c).format()}")
        else:
            out.append(f"{labels['paid']} ({order.payment_method}): {Money(order.grand_total, c).format()}")
        if order.tendered is not None:
            out.append(f"{labels['tendered']}: {Money(order.tendered, c).format()}")
        if order.change_due is not None:
            out.append(f"{labels['change']}: {Money(order.change_due, c).format()}")
        text[loc] = "\n".join(out)
    return {
        "order_id": str(order.id), "number": order.number, "restaurant": restaurant, "locales": locales,
        "placed_at": placed.isoformat(), "table": order.table_code or order.table_id, "lines": lines,  # local time
        "totals": [{"label": {loc: LABELS.get(loc, LABELS["en"])[key] for loc in locales},
                    "key": key, "amount": Money(amount, c).format()} for key, amount in totals],
        "tenders": [{"method": t["method"], "amount": Money(t["amount"], c).format(), "tip": Money(t["tip"], c).format(),
                     "tip_refunded": Money(t["tip_refunded"], c).format()} for t in tenders],
        "payment": {"method": order.payment_method, "captured": Money(order.grand_total, c).format(),
                    "tendered": Money(order.tendered, c).format() if order.tendered is not None else None,
                    "change_due": Money(order.change_due, c).format() if order.change_due is not None else None},
        "text": text,
    }
