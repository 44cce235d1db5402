"""The arithmetic of splitting a check (pure, no database): every component of the parts adds up exactly."""

from __future__ import annotations

import random

import pytest

from modules.pos_core.table_service.split import CheckAmounts, ItemAmounts, split_by_items, split_by_seats, split_equal

FIELDS = ("subtotal", "discount", "service_charge", "tax", "total")


def check(subtotal: int, comps: int, discounts: int, service: int, tax: int, inclusive: bool) -> CheckAmounts:
    net = subtotal - comps - discounts
    total = net + service + (0 if inclusive else tax)
    return CheckAmounts(currency="MMK", subtotal=subtotal, discount=comps + discounts, comps=comps,
                        service_charge=service, tax=tax, tax_inclusive=inclusive, total=total)


def assert_adds_up(whole: CheckAmounts, parts) -> None:
    for name in FIELDS:
        assert sum(getattr(p, name) for p in parts) == getattr(whole, name), name
    for part in parts:
        assert part.total == part.subtotal - part.discount + part.service_charge + (
            0 if whole.tax_inclusive else part.tax)
        assert part.total >= 0 and part.discount <= part.subtotal


def test_equal_parts_differ_by_one_unit_per_component_and_the_first_parts_carry_it():
    whole = check(10000, 0, 0, 1000, 524, True)
    parts = split_equal(whole, 3)
    assert [p.subtotal for p in parts] == [3334, 3333, 3333]
    assert [p.service_charge for p in parts] == [334, 333, 333]
    assert [p.total for p in parts] == [3668, 3666, 3666]
    for name in FIELDS[:-1]:
        values = [getattr(p, name) for p in parts]
        assert max(values) - min(values) <= 1
    assert_adds_up(whole, parts)


@pytest.mark.parametrize("seed", range(40))
def test_random_checks_split_every_way_add_up(seed):
    rng = random.Random(seed)
    items = [ItemAmounts(id=f"i{k}", quantity=rng.randint(1, 4), unit_total=rng.randint(1, 90) * 50,
                         comped=0, seat=rng.choice([None, 1, 2, 3])) for k in range(rng.randint(2, 6))]
    items = [ItemAmounts(id=i.id, quantity=i.quantity, unit_total=i.unit_total, seat=i.seat,
                         comped=i.unit_total * rng.randint(0, i.quantity) if rng.random() < 0.3 else 0) for i in items]
    subtotal = sum(i.unit_total * i.quantity for i in items)
    comps = sum(i.comped for i in items)
    discounts = rng.randint(0, (subtotal - comps) // 3)
    net = subtotal - comps - discounts
    inclusive = rng.random() < 0.5
    whole = check(subtotal, comps, discounts, net * 10 // 100, net * 5 // 105, inclusive)
    assert_adds_up(whole, split_equal(whole, rng.randint(2, 7)))
    assignment = [[(i.id, i.quantity)] for i in items]
    assert_adds_up(whole, split_by_items(whole, {i.id: i for i in items}, assignment))
    if len({i.seat for i in items if i.seat}) >= 2:
        _, parts = split_by_seats(whole, items)
        assert_adds_up(whole, parts)
