"""Serializer pieces every module's API shares, so money and quantities look the same everywhere."""

from __future__ import annotations

from rest_framework import serializers

from pos.money import Money
from pos.numbers import is_integer


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer only: refuses 2.0, "2" and true, which DRF's IntegerField would coerce."""

    default_error_messages = {"invalid": "A whole number is required (no decimals, no strings)."}

    def to_internal_value(self, data):
        if not is_integer(data):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string only, kept as sent: refuses 5 and true, which DRF's CharField would turn into "5" and "True",
    and does not trim (an id with a space is another id)."""

    default_error_messages = {"invalid": "A string is required."}

    def __init__(self, **kwargs):
        kwargs.setdefault("trim_whitespace", False)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class MinorUnitsField(StrictIntegerField):
    """An amount in integer minor units of the tenant's currency (MMK has none)."""

    default_error_messages = {"invalid": "An integer number of minor units is required (no decimals, no strings)."}


class MoneySerializer(serializers.Serializer):
    """Money on the wire: {"amount": <integer minor units>, "currency": "MMK"}. Never a float."""

    amount = serializers.IntegerField(help_text="Integer minor units of the currency (MMK has none).")
    currency = serializers.CharField(help_text="ISO 4217 code.")

    class Meta:
        ref_name = "Money"

    def to_representation(self, instance):
        if isinstance(instance, Money):
            return {"amount": instance.amount, "currency": instance.currency}
        return {"amount": instance["amount"], "currency": instance["currency"]}
