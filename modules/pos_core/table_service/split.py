"""Pure arithmetic of splitting a check (no database): every amount is divided by largest remainder.

Rounding, documented: each component of the check (subtotal, comps and discounts, service charge, tax) is divided
over the parts separately with `pricing.allocate` (largest remainder; on a tie the earlier part gets the extra minor
unit), and each part's total is then its subtotal - discount + service charge (+ tax when tax is added on top).
So every component, and therefore the total, of the parts adds up exactly to the check's; N equal parts differ by
at most one minor unit per component, the first parts carrying the extra units."""

from __future__ import annotations

from dataclasses import dataclass, field

from pos.money import Money

from ..pricing import allocate


@dataclass
class Part:
    subtotal: int = 0
    discount: int = 0
    service_charge: int = 0
    tax: int = 0
    total: int = 0
    # (source item id, quantity, line total, comped amount) copied onto the part
    items: list[tuple[str, int, int, int]] = field(default_factory=list)


@dataclass(frozen=True)
class CheckAmounts:
    currency: str
    subtotal: int
    discount: int  # comps (on items) + order-level discounts
    comps: int
    service_charge: int
    tax: int
    tax_inclusive: bool
    total: int


@dataclass(frozen=True)
class ItemAmounts:
    id: str
    quantity: int
    unit_total: int  # unit price with options
    comped: int
    seat: int | None


def _finish(check: CheckAmounts, parts: list[Part], item_discounts: list[int]) -> list[Part]:
    """Given each part's subtotal and its items' comps, divide the order-level discount, the service charge and
    the tax, and compute each total."""
    c = check.currency
    order_discount = check.discount - check.comps
    # By what each part still owes after its comps, so no part is discounted below zero.
    weights = [max(p.subtotal - comp, 0) for p, comp in zip(parts, item_discounts, strict=True)]
    for part, comp, share in zip(parts, item_discounts, allocate(Money(order_discount, c), weights), strict=True):
        part.discount = comp + share.amount
    net = [max(p.subtotal - p.discount, 0) for p in parts]
    for part, share in zip(parts, allocate(Money(check.service_charge, c), net), strict=True):
        part.service_charge = share.amount
    for part, share in zip(parts, allocate(Money(check.tax, c), net), strict=True):
        part.tax = share.amount
    for part in parts:
        part.total = part.subtotal - part.discount + part.service_charge + (0 if check.tax_inclusive else part.tax)
    return parts


def split_equal(check: CheckAmounts, count: int) -> list[Part]:
    c = check.currency
    parts = [Part() for _ in range(count)]
    weights = [1] * count
    for part, share in zip(parts, allocate(Money(check.subtotal, c), weights), strict=True):
        part.subtotal = share.amount
    comps = [s.amount for s in allocate(Money(check.comps, c), weights)]
    return _finish(check, parts, comps)


def split_by_items(check: CheckAmounts, items: dict[str, ItemAmounts],
                   assignment: list[list[tuple[str, int]]]) -> list[Part]:
    """`assignment[k]` lists (item id, quantity) of part k; every unit of every item is in exactly one part
    (checked by the caller)."""
    c = check.currency
    parts = [Part() for _ in assignment]
    comps = [0] * len(parts)
    holders: dict[str, list[tuple[int, int]]] = {}
    for index, entries in enumerate(assignment):
        for item_id, quantity in entries:
            holders.setdefault(item_id, []).append((index, quantity))
    for item_id, held in holders.items():
        item = items[item_id]
        comp_shares = allocate(Money(item.comped, c), [q for _, q in held])
        for (index, quantity), comp in zip(held, comp_shares, strict=True):
            line_total = item.unit_total * quantity
            parts[index].subtotal += line_total
            parts[index].items.append((item_id, quantity, line_total, comp.amount))
            comps[index] += comp.amount
    return _finish(check, parts, comps)


def split_by_seats(check: CheckAmounts, items: list[ItemAmounts]) -> tuple[list[int], list[Part]]:
    """One part per seat (in seat order). Items without a seat are shared: their amounts are divided equally
    over the seats. Returns the seats and the parts."""
    c = check.currency
    seats = sorted({item.seat for item in items if item.seat is not None})
    parts = [Part() for _ in seats]
    comps = [0] * len(parts)
    index_of = {seat: i for i, seat in enumerate(seats)}
    equal = [1] * len(seats)
    for item in items:
        line_total = item.unit_total * item.quantity
        if item.seat is not None:
            i = index_of[item.seat]
            parts[i].subtotal += line_total
            parts[i].items.append((item.id, item.quantity, line_total, item.comped))
            comps[i] += item.comped
            continue
        for i, share in enumerate(allocate(Money(line_total, c), equal)):
            parts[i].subtotal += share.amount
        for i, share in enumerate(allocate(Money(item.comped, c), equal)):
            comps[i] += share.amount
    return seats, _finish(check, parts, comps)
