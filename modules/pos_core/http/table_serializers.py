"""Serializers of the table-service endpoints: shapes at the edge; the rules live in table_service."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from pos.api.fields import MinorUnitsField, MoneySerializer, StrictIntegerField

from ..order_lines import MAX_QUANTITY
from .serializers import PosCoreOrderItemIn, money


class TableRoundIn(serializers.Serializer):
    items = PosCoreOrderItemIn(many=True, allow_empty=False, max_length=settings.POS_ORDER_MAX_LINES,
                             help_text="Validated and priced on the server.")
    version = StrictIntegerField(help_text="The check's version you saw; a stale version is 409 and nothing is sent.")


class TableVoidIn(serializers.Serializer):
    reason = serializers.CharField(max_length=300)
    made = serializers.BooleanField(help_text="The food was made: written off, not returned to stock.")
    quantity = StrictIntegerField(required=False, min_value=1, max_value=MAX_QUANTITY, help_text="Default: all of it.")
    version = StrictIntegerField(required=False, help_text="The check's version you saw; stale -> 409.")


class TableCompIn(serializers.Serializer):
    item_id = serializers.UUIDField()
    quantity = StrictIntegerField(required=False, min_value=1, max_value=MAX_QUANTITY, help_text="Default: all of it.")
    reason = serializers.CharField(max_length=300)
    version = StrictIntegerField(required=False)


class TableDiscountIn(serializers.Serializer):
    amount = MinorUnitsField(required=False, min_value=1, help_text="Minor units off what is still billed.")
    percent = serializers.DecimalField(required=False, max_digits=5, decimal_places=2, min_value=Decimal("0.01"),
                                       max_value=Decimal(100), help_text="Or a percent of what is still billed.")
    reason = serializers.CharField(max_length=300)
    version = StrictIntegerField(required=False)

    def validate(self, attrs):
        if ("amount" in attrs) == ("percent" in attrs):
            raise serializers.ValidationError({"amount": "Give either an amount or a percent."})
        return attrs


class TableSplitPartItemIn(serializers.Serializer):
    item_id = serializers.UUIDField()
    quantity = StrictIntegerField(required=False, min_value=1, max_value=MAX_QUANTITY, help_text="Default: all of it.")


class TableSplitPartIn(serializers.Serializer):
    items = TableSplitPartItemIn(many=True)


class TableSplitIn(serializers.Serializer):
    by = serializers.ChoiceField(choices=["items", "seats", "equal"])
    count = StrictIntegerField(required=False, min_value=2, max_value=20, help_text="by=equal: how many parts.")
    parts = TableSplitPartIn(many=True, required=False, help_text="by=items: the items (and quantities) of each part.")
    version = StrictIntegerField(required=False)

    def validate(self, attrs):
        if attrs["by"] == "equal" and "count" not in attrs:
            raise serializers.ValidationError({"count": "Say into how many parts."})
        if attrs["by"] == "items" and not attrs.get("parts"):
            raise serializers.ValidationError({"parts": "List the items of each part."})
        return attrs


class TablePaymentIn(serializers.Serializer):
    method = serializers.CharField(max_length=30)
    amount = MinorUnitsField(min_value=1, help_text="Toward the bill; at most what is still due.")
    tip = MinorUnitsField(required=False, min_value=0, default=0, help_text="Charged with it, reported apart.")
    tendered = MinorUnitsField(required=False, allow_null=True, min_value=1, help_text="Cash handed over.")


class TablePaymentOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    method = serializers.CharField()
    amount = MoneySerializer()
    tip = MoneySerializer()
    captured = MoneySerializer()
    tendered = MoneySerializer(allow_null=True)
    change_due = MoneySerializer(allow_null=True)
    payment_id = serializers.CharField()
    order = serializers.DictField(help_text="The check after this payment (see the order schema).")


class KitchenTicketFilters(serializers.Serializer):
    station = serializers.CharField(required=False, max_length=40)
    status = serializers.ChoiceField(required=False, choices=["new", "bumped"])


class KitchenTicketOut(serializers.Serializer):
    id = serializers.UUIDField()
    kind = serializers.ChoiceField(choices=["round", "void"])
    station = serializers.CharField()
    status = serializers.CharField()
    order_id = serializers.UUIDField()
    order_number = serializers.CharField()
    table_id = serializers.CharField()
    table = serializers.CharField()
    round = serializers.IntegerField()
    lines = serializers.ListField(child=serializers.DictField(),
                                  help_text="quantity, product/variant names in every locale, options, note, seat")
    created_at = serializers.DateTimeField()
    bumped_at = serializers.DateTimeField(allow_null=True)

    def to_representation(self, ticket):
        dt = serializers.DateTimeField()
        return {"id": str(ticket.id), "kind": ticket.kind, "station": ticket.station, "status": ticket.status,
                "order_id": str(ticket.order_id), "order_number": ticket.order_number, "table_id": ticket.table_id,
                "table": ticket.table_code or ticket.table_id, "round": ticket.round_number, "lines": ticket.lines,
                "created_at": dt.to_representation(ticket.created_at),
                "bumped_at": dt.to_representation(ticket.bumped_at) if ticket.bumped_at else None}


class TableBillOut(serializers.Serializer):
    order_id = serializers.UUIDField()
    number = serializers.CharField()
    status = serializers.CharField()
    version = serializers.IntegerField()
    restaurant = serializers.CharField()
    locales = serializers.ListField(child=serializers.CharField())
    opened_at = serializers.DateTimeField()
    table = serializers.CharField(allow_null=True)
    parent_id = serializers.UUIDField(allow_null=True)
    lines = serializers.ListField(child=serializers.DictField())
    totals = serializers.ListField(child=serializers.DictField())
    due = MoneySerializer()
    payments = serializers.ListField(child=serializers.DictField())
    parts = serializers.ListField(child=serializers.DictField())
    text = serializers.DictField(child=serializers.CharField(), help_text="The printable pre-bill per locale.")


__all__ = ["money"]
