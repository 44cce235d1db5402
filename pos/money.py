"""The one money type: integer minor units plus an ISO 4217 currency code. No float anywhere."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from pos.numbers import is_integer

# Minor-unit exponents of the currencies we accept. MMK has no minor units in practice.
CURRENCY_EXPONENTS: dict[str, int] = {
    "MMK": 0, "THB": 2, "USD": 2, "SGD": 2, "EUR": 2, "JPY": 0, "KRW": 0, "CNY": 2, "INR": 2, "VND": 0,
}


class CurrencyMismatch(ValueError):
    pass


def currency_exponent(currency: str) -> int:
    try:
        return CURRENCY_EXPONENTS[currency]
    except KeyError:
        raise ValueError(f"Unsupported currency {currency!r}.") from None


@dataclass(frozen=True, slots=True, order=False)
class Money:
    amount: int  # minor units
    currency: str

    def __post_init__(self) -> None:
        if not is_integer(self.amount):
            raise TypeError(f"Money amount must be an integer number of minor units, not {type(self.amount).__name__}.")
        if not (isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isupper()):
            raise ValueError(f"Invalid currency code {self.currency!r}.")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(0, currency)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Money:
        return cls(data["amount"], data["currency"])

    def to_dict(self) -> dict[str, Any]:
        return {"amount": self.amount, "currency": self.currency}

    def _same(self, other: Money) -> None:
        if not isinstance(other, Money):
            raise TypeError(f"Cannot combine Money with {type(other).__name__}.")
        if other.currency != self.currency:
            raise CurrencyMismatch(f"{self.currency} and {other.currency} do not mix.")

    def __add__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount + other.amount, self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same(other)
        return Money(self.amount - other.amount, self.currency)

    def __neg__(self) -> Money:
        return Money(-self.amount, self.currency)

    def __mul__(self, quantity: int) -> Money:
        if not is_integer(quantity):
            raise TypeError("Money can only be multiplied by an integer quantity; use .percent() for rates.")
        return Money(self.amount * quantity, self.currency)

    __rmul__ = __mul__

    def __lt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount < other.amount

    def __le__(self, other: Money) -> bool:
        self._same(other)
        return self.amount <= other.amount

    def __gt__(self, other: Money) -> bool:
        self._same(other)
        return self.amount > other.amount

    def __ge__(self, other: Money) -> bool:
        self._same(other)
        return self.amount >= other.amount

    def __bool__(self) -> bool:
        return self.amount != 0

    def percent(self, rate: Decimal | str) -> Money:
        """This amount times `rate` percent, rounded half up to a whole minor unit."""
        value = (Decimal(self.amount) * Decimal(rate) / Decimal(100)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return Money(int(value), self.currency)

    def portion(self, numerator: int, denominator: int) -> Money:
        """This amount times numerator/denominator, rounded half up (e.g. tax included in a price)."""
        value = (Decimal(self.amount) * numerator / Decimal(denominator)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
        return Money(int(value), self.currency)

    def round_to(self, unit: int) -> Money:
        """Round half up to a multiple of `unit` minor units (cash rounding, e.g. 50 MMK)."""
        if unit <= 1:
            return self
        value = (Decimal(self.amount) / unit).quantize(Decimal(1), rounding=ROUND_HALF_UP) * unit
        return Money(int(value), self.currency)

    def format(self) -> str:
        exponent = currency_exponent(self.currency)
        if exponent == 0:
            return f"{self.amount:,} {self.currency}"
        sign = "-" if self.amount < 0 else ""
        major, minor = divmod(abs(self.amount), 10**exponent)
        return f"{sign}{major:,}.{minor:0{exponent}d} {self.currency}"

    def __str__(self) -> str:
        return self.format()
