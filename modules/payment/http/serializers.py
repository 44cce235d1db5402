from __future__ import annotations

from rest_framework import serializers

from ..models import Method, PaymentStatus

MAX_MINOR_UNITS = 10**15


class MinorUnitsField(serializers.IntegerField):
    """An amount in integer minor units. Strings, floats and booleans are refused, not coerced."""

    default_error_messages = {"invalid": "An integer number of minor units is required (no decimals, no strings)."}

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class PaymentMoneyOut(serializers.Serializer):
    amount = serializers.IntegerField(help_text="Minor units.")
    currency = serializers.CharField()


class PaymentRefundOut(serializers.Serializer):
    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount = PaymentMoneyOut()
    reason = serializers.CharField()
    status = serializers.CharField(help_text="pending, succeeded or failed.")
    provider_reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class PaymentOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text="pending, captured, declined, failed, partially_refunded, refunded.")
    method = serializers.CharField(help_text="cash, card, kbzpay or wavepay.")
    amount = PaymentMoneyOut(help_text="What was asked for.")
    rounding_adjustment = PaymentMoneyOut(help_text="Cash rounding, shown explicitly (may be negative).")
    captured = PaymentMoneyOut(help_text="What was taken: amount + rounding adjustment.")
    refunded = PaymentMoneyOut()
    refundable = PaymentMoneyOut(help_text="What can still be refunded.")
    tendered = PaymentMoneyOut(allow_null=True)
    change_due = PaymentMoneyOut(allow_null=True)
    provider_reference = serializers.CharField()
    reference = serializers.CharField()
    decline_reason = serializers.CharField()
    version = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField(allow_null=True)


class PaymentDetailOut(PaymentOut):
    refunds = PaymentRefundOut(many=True)


class PaymentListFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    method = serializers.ChoiceField(choices=Method.choices, required=False)
    reference = serializers.CharField(required=False, max_length=100)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class PaymentRefundIn(serializers.Serializer):
    amount = MinorUnitsField(max_value=MAX_MINOR_UNITS, min_value=-MAX_MINOR_UNITS,
                             help_text="Minor units; more than zero and at most what is left to refund.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False,
                                      help_text="Defaults to the payment's currency; any other is refused.")
    reason = serializers.CharField(max_length=300)


class PaymentMethodsOut(serializers.Serializer):
    methods = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()
    cash_rounding_unit = serializers.IntegerField()
