"""The pre-bill of a check in each of the restaurant's locales, from its snapshots only (like the receipt):
items with their comps, discounts, service charge, tax, what is paid (tips apart) and what is still due; a split
check lists its parts, a part lists its items or its share."""

from __future__ import annotations

import zoneinfo
from typing import Any

from pos.money import Money

from ..models import AdjustmentKind, Order, OrderAdjustment, OrderPaymentStatus

LABELS = {
    "en": {"bill": "Bill", "order": "Order", "table": "Table", "subtotal": "Subtotal", "comp": "On the house",
           "discount": "Discount", "service_charge": "Service charge", "tax_included": "Tax included", "tax": "Tax",
           "rounding": "Rounding", "total": "Total", "paid": "Paid", "tips": "Tips", "due": "Due",
           "part": "Part", "seat": "Seat", "share": "Share of the check"},
    "my": {"bill": "ငွေတောင်းခံလွှာ", "order": "အော်ဒါ", "table": "စားပွဲ", "subtotal": "စုစုပေါင်း",
           "comp": "အခမဲ့", "discount": "လျှော့ဈေး", "service_charge": "ဝန်ဆောင်ခ", "tax_included": "အခွန်ပါဝင်ပြီး",
           "tax": "အခွန်", "rounding": "အနီးစပ်ဆုံးညှိ", "total": "စုစုပေါင်းကျသင့်ငွေ", "paid": "ပေးချေပြီး",
           "tips": "ဆုကြေး", "due": "ပေးရန်ကျန်", "part": "အပိုင်း", "seat": "ထိုင်ခုံ",
           "share": "ငွေတောင်းခံလွှာ၏ဝေစု"},
}


def _name(names: dict[str, str], locale: str) -> str:
    return names.get(locale) or names.get("en") or next(iter(names.values()), "")


def build_bill(order: Order, *, restaurant: str, locales: list[str], timezone: str) -> dict[str, Any]:
    c = order.currency

    def fmt(amount: int) -> str:
        return Money(amount, c).format()

    opened = order.placed_at.astimezone(zoneinfo.ZoneInfo(timezone))
    items = [item for item in order.items.all() if item.quantity > 0]
    lines = [{
        "item_id": str(item.id), "quantity": item.quantity, "seat": item.seat,
        "names": {loc: _name(item.product_names, loc) + (f" ({_name(item.variant_names, loc)})"
                                                          if item.variant_names else "") for loc in locales},
        "options": [{"names": {loc: _name(o["names"], loc) for loc in locales},
                     "price_delta": fmt(o["price_delta"])} for o in item.options],
        "note": item.note, "unit_price": fmt(item.unit_price + item.options_total), "line_total": fmt(item.line_total),
        "comped": fmt(-item.comped) if item.comped else None,
    } for item in items]
    discounts = [adj for adj in order.adjustments.all()
                 if adj.kind == AdjustmentKind.DISCOUNT and adj.status == OrderAdjustment.Status.DONE]
    payments = [p for p in order.payments.all() if p.status == OrderPaymentStatus.CAPTURED]
    parts = sorted(order.parts.all(), key=lambda p: (len(p.number), p.number)) if order.split_kind else []
    due = max(order.grand_total - order.paid, 0)
    totals: list[tuple[str, int]] = [("subtotal", order.subtotal)]
    comps = sum(item.comped for item in items)
    if comps:
        totals.append(("comp", -comps))
    for adj in discounts:
        totals.append(("discount", -adj.amount))
    if order.service_charge:
        totals.append(("service_charge", order.service_charge))
    totals.append(("tax_included" if order.tax_inclusive else "tax", order.tax))
    if order.rounding:
        totals.append(("rounding", order.rounding))
    totals.append(("total", order.grand_total))
    if order.paid:
        totals.append(("paid", order.paid))
    if order.tips:
        totals.append(("tips", order.tips))
    totals.append(("due", due))
    text: dict[str, str] = {}
    for loc in locales:
        labels = LABELS.get(loc, LABELS["en"])
        out = [restaurant, f"{labels['bill']} {order.number}  {opened:%Y-%m-%d %H:%M}"]
        if order.table_code or order.table_id:
            out.append(f"{labels['table']} {order.table_code or order.table_id}")
        if order.parent_id:
            out.append(f"{labels['part']} {order.note}")
        out.append("-" * 32)
        for line in lines:
            seat = f" [{labels['seat']} {line['seat']}]" if line["seat"] else ""
            out.append(f"{line['quantity']} x {line['names'][loc]}{seat}  {line['line_total']}")
            out.extend(f"   + {opt['names'][loc]} {opt['price_delta']}" for opt in line["options"])
            if line["comped"]:
                out.append(f"   {labels['comp']} {line['comped']}")
        if order.parent_id and order.subtotal != sum(item.line_total for item in items):
            out.append(f"{labels['share']}  {fmt(order.subtotal - sum(item.line_total for item in items))}")
        for adj in discounts:
            out.append(f"{labels['discount']} ({adj.reason}): {fmt(-adj.amount)}")
        out.append("-" * 32)
        out.extend(f"{labels[key]}: {fmt(amount)}" for key, amount in totals)
        for part in parts:
            out.append(f"{labels['part']} {part.number} ({part.note}): {fmt(part.grand_total)} - {part.status}")
        text[loc] = "\n".join(out)
    return {
        "order_id": str(order.id), "number": order.number, "status": order.status, "version": order.version,
        "restaurant": restaurant, "locales": locales, "opened_at": opened.isoformat(),
        "table": order.table_code or order.table_id, "parent_id": str(order.parent_id) if order.parent_id else None,
        "lines": lines,
        "totals": [{"label": {loc: LABELS.get(loc, LABELS["en"])[key] for loc in locales}, "key": key,
                    "amount": fmt(amount)} for key, amount in totals],
        "due": Money(due, c).to_dict(),
        "payments": [{"method": p.method, "amount": Money(p.amount + p.rounding, c).to_dict(),
                      "tip": Money(p.tip, c).to_dict()} for p in payments],
        "parts": [{"id": str(p.id), "number": p.number, "label": p.note, "status": p.status,
                   "total": Money(p.grand_total, c).to_dict(), "due": Money(max(p.grand_total - p.paid, 0), c).to_dict()}
                  for p in parts],
        "text": text,
    }
