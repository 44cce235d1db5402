from decimal import Decimal

import pytest

from pos.money import CurrencyMismatch, Money


def test_money_is_integer_minor_units_only():
    with pytest.raises(TypeError):
        Money(3500.0, "MMK")
    with pytest.raises(TypeError):
        Money(True, "MMK")
    with pytest.raises(ValueError):
        Money(1, "mmk")


def test_arithmetic_keeps_the_currency():
    assert Money(3500, "MMK") + Money(500, "MMK") == Money(4000, "MMK")
    assert Money(3500, "MMK") * 3 == Money(10500, "MMK")
    with pytest.raises(CurrencyMismatch):
        Money(1, "MMK") + Money(1, "USD")
    with pytest.raises(TypeError):
        Money(1, "MMK") * Decimal("1.5")


def test_rates_and_rounding_are_half_up_and_exact():
    assert Money(3500, "MMK").percent(Decimal("5")) == Money(175, "MMK")
    assert Money(3333, "MMK").percent("5") == Money(167, "MMK")  # 166.65 -> 167
    assert Money(4025, "MMK").round_to(50) == Money(4050, "MMK")
    assert Money(4024, "MMK").round_to(50) == Money(4000, "MMK")
    assert Money(10500, "MMK").portion(5, 105) == Money(500, "MMK")


def test_formatting_respects_the_exponent():
    assert str(Money(3500, "MMK")) == "3,500 MMK"
    assert str(Money(123456, "USD")) == "1,234.56 USD"
    assert str(Money(-5, "USD")) == "-0.05 USD"
