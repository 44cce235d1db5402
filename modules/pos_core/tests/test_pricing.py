"""Pure pricing: no database."""

from decimal import Decimal

import pytest

from modules.pos_core.pricing import (
    PricedLine,
    TaxPolicy,
    allocate,
    cash_rounding,
    compute_totals,
    included_tax,
)
from pos.money import Money


def mmk(amount: int) -> Money:
    return Money(amount, "MMK")


def test_line_total_includes_option_deltas_per_unit():
    line = PricedLine(unit_price=mmk(3000), option_deltas=(mmk(500), mmk(-200)), quantity=3)
    assert line.options_total == mmk(300)
    assert line.unit_total == mmk(3300)
    assert line.line_total == mmk(9900)


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True, "2"])
def test_line_refuses_non_positive_or_non_integer_quantity(quantity):
    with pytest.raises(ValueError):
        PricedLine(unit_price=mmk(100), option_deltas=(), quantity=quantity)


def test_tax_inclusive_extracts_tax_and_keeps_total():
    lines = [PricedLine(mmk(2100), (), 1), PricedLine(mmk(1050), (), 2)]
    totals = compute_totals(lines, TaxPolicy(tax_rate=Decimal("5"), tax_inclusive=True), "MMK")
    assert totals.subtotal == mmk(4200)
    assert totals.total == mmk(4200)
    assert totals.tax == mmk(200)  # 4200 * 5 / 105
    assert totals.grand_total == totals.total


def test_tax_exclusive_adds_tax_on_subtotal_and_service_charge():
    lines = [PricedLine(mmk(10000), (), 1)]
    policy = TaxPolicy(tax_rate=Decimal("5"), tax_inclusive=False, service_charge_rate=Decimal("10"))
    totals = compute_totals(lines, policy, "MMK")
    assert totals.service_charge == mmk(1000)
    assert totals.tax == mmk(550)
    assert totals.total == mmk(11550)


def test_service_charge_with_inclusive_tax():
    policy = TaxPolicy(tax_rate=Decimal("5"), tax_inclusive=True, service_charge_rate=Decimal("10"))
    totals = compute_totals([PricedLine(mmk(10000), (), 1)], policy, "MMK")
    assert totals.total == mmk(11000)
    assert totals.tax == mmk(524)  # 11000 * 5 / 105 = 523.8 -> 524


def test_minor_units_round_half_up():
    usd = Money(333, "USD")
    totals = compute_totals([PricedLine(usd, (), 1)], TaxPolicy(Decimal("7.5"), False), "USD")
    assert totals.tax == Money(25, "USD")  # 24.975 -> 25
    assert included_tax(Money(1000, "USD"), Decimal("0")) == Money(0, "USD")


def test_cash_rounding_is_an_explicit_line():
    totals = compute_totals([PricedLine(mmk(4230), (), 1)], TaxPolicy(Decimal("5"), True), "MMK")
    rounding = cash_rounding(totals.total, 50)
    assert rounding == mmk(20)
    rounded = totals.with_rounding(rounding)
    assert rounded.grand_total == mmk(4250)
    assert rounded.total == mmk(4230)
    assert cash_rounding(mmk(4220), 50) == mmk(-20)


def test_allocate_is_exact_and_proportional():
    parts = allocate(mmk(1000), [1, 1, 1])
    assert sum(p.amount for p in parts) == 1000
    assert sorted(p.amount for p in parts) == [333, 333, 334]
    assert [p.amount for p in allocate(mmk(-10), [3, 1])] == [-8, -2]
    assert allocate(mmk(5), []) == []
    assert [p.amount for p in allocate(mmk(7), [0, 0])] == [7, 0]


def test_no_float_reaches_money():
    with pytest.raises(TypeError):
        PricedLine(unit_price=mmk(100), option_deltas=(), quantity=1).unit_total * 1.5
