from __future__ import annotations

from rest_framework import serializers

from pos.api.fields import MinorUnitsField, MoneySerializer

from ..models import Method, PaymentStatus

MAX_MINOR_UNITS = 10**15


class PaymentRefundOut(serializers.Serializer):
    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount = MoneySerializer()
    reason = serializers.CharField()
    status = serializers.CharField(help_text="pending, succeeded or failed.")
    provider_reference = serializers.CharField()
    created_at = serializers.DateTimeField()


class PaymentOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField(help_text="pending, captured, declined, failed, partially_refunded, refunded.")
    method = serializers.CharField(help_text="cash, card, kbzpay or wavepay.")
    amount = MoneySerializer(help_text="What was asked for.")
    rounding_adjustment = MoneySerializer(help_text="Cash rounding, shown explicitly (may be negative).")
    captured = MoneySerializer(help_text="What was taken: amount + rounding adjustment.")
    refunded = MoneySerializer()
    refundable = MoneySerializer(help_text="What can still be refunded.")
    tendered = MoneySerializer(allow_null=True)
    change_due = MoneySerializer(allow_null=True)
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
