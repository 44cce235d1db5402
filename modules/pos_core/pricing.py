"""Pure pricing: line totals, service charge, tax (inclusive or exclusive), cash rounding, allocation.

Plain Python over pos.money.Money and Decimal rates; no database, no Django, no float. The saga prices an
order with these functions from the product snapshots; a terminal never supplies a price."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal

from pos.money import Money
from pos.numbers import is_integer


@dataclass(frozen=True)
class PricedLine:
    unit_price: Money  # product or variant price
    option_deltas: tuple[Money, ...]
    quantity: int

    def __post_init__(self) -> None:
        if not is_integer(self.quantity) or self.quantity <= 0:
            raise ValueError("quantity must be a positive integer")

    @property
    def options_total(self) -> Money:
        return sum(self.option_deltas, Money.zero(self.unit_price.currency))

    @property
    def unit_total(self) -> Money:
        return self.unit_price + self.options_total

    @property
    def line_total(self) -> Money:
        return self.unit_total * self.quantity


@dataclass(frozen=True)
class TaxPolicy:
    tax_rate: Decimal  # percent, e.g. Decimal("5.00")
    tax_inclusive: bool
    service_charge_rate: Decimal = Decimal(0)


@dataclass(frozen=True)
class Totals:
    subtotal: Money  # sum of line totals
    service_charge: Money
    tax: Money  # included in the prices when tax_inclusive, added on top otherwise
    tax_inclusive: bool
    total: Money  # what is owed before cash rounding
    rounding: Money  # explicit cash rounding line (payment's rounding_adjustment); zero for other methods
    grand_total: Money  # total + rounding: what is captured

    def with_rounding(self, rounding: Money) -> Totals:
        return replace(self, rounding=rounding, grand_total=self.total + rounding)


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def included_tax(gross: Money, rate: Decimal) -> Money:
    """The tax contained in a tax-inclusive amount: gross x rate / (100 + rate), rounded half up."""
    if rate == 0:
        return Money.zero(gross.currency)
    return Money(_round_half_up(Decimal(gross.amount) * rate / (Decimal(100) + rate)), gross.currency)


def compute_totals(lines: Sequence[PricedLine], policy: TaxPolicy, currency: str) -> Totals:
    """Totals of an order. The service charge applies to the subtotal; tax applies to subtotal plus service
    charge (added on top when exclusive, extracted when inclusive)."""
    subtotal = Money.zero(currency)
    for line in lines:
        subtotal = subtotal + line.line_total
    return totals_from(subtotal, policy)


def totals_from(subtotal: Money, policy: TaxPolicy, discount: Money | None = None) -> Totals:
    """Totals from a subtotal less comps and discounts (never below zero): the service charge applies to what
    is left, tax to that plus the service charge."""
    currency = subtotal.currency
    net = subtotal - discount if discount is not None else subtotal
    if net.amount < 0:
        net = Money.zero(currency)
    service = net.percent(policy.service_charge_rate) if policy.service_charge_rate else Money.zero(currency)
    taxable = net + service
    if policy.tax_inclusive:
        tax = included_tax(taxable, policy.tax_rate)
        total = taxable
    else:
        tax = taxable.percent(policy.tax_rate) if policy.tax_rate else Money.zero(currency)
        total = taxable + tax
    zero = Money.zero(currency)
    return Totals(subtotal=subtotal, service_charge=service, tax=tax, tax_inclusive=policy.tax_inclusive,
                  total=total, rounding=zero, grand_total=total)


def cash_rounding(total: Money, unit: int) -> Money:
    """The rounding line cash payment will add (payment computes the authoritative one)."""
    return total.round_to(unit) - total


def allocate(amount: Money, weights: Sequence[int]) -> list[Money]:
    """Split `amount` across `weights` proportionally, exactly (largest remainder), e.g. an order's captured
    total across its lines, or a refund across the lines it covers. Sum of the parts == amount."""
    if not weights:
        return []
    total_weight = sum(weights)
    if total_weight <= 0:
        parts = [0] * len(weights)
        parts[0] = amount.amount
        return [Money(p, amount.currency) for p in parts]
    sign = -1 if amount.amount < 0 else 1
    absolute = abs(amount.amount)
    raw = [absolute * w for w in weights]
    parts = [r // total_weight for r in raw]
    remainders = sorted(range(len(weights)), key=lambda i: (-(raw[i] % total_weight), i))
    for i in remainders[: absolute - sum(parts)]:
        parts[i] += 1
    return [Money(sign * p, amount.currency) for p in parts]
