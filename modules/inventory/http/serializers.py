"""Input and output shapes of the inventory terminal API."""

from __future__ import annotations

from rest_framework import serializers

from pos.api.fields import MoneySerializer, StrictIntegerField


class NamesField(serializers.DictField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(), help_text="Text per locale, e.g. {\"en\": ..., \"my\": ...}.",
                         **kwargs)


class CatalogOptionChoiceOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    price_delta = MoneySerializer()


class CatalogOptionGroupOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    min_select = serializers.IntegerField()
    max_select = serializers.IntegerField()
    choices = CatalogOptionChoiceOut(many=True)


class CatalogVariantOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    price = MoneySerializer()
    stock_level = serializers.IntegerField(allow_null=True, help_text="Available to sell; null when untracked.")
    is_sold_out = serializers.BooleanField()
    option_groups = CatalogOptionGroupOut(many=True)


class CatalogProductOut(serializers.Serializer):
    id = serializers.CharField()
    names = NamesField()
    descriptions = NamesField()
    category_id = serializers.CharField(allow_null=True)
    category_names = NamesField()
    price = MoneySerializer()
    is_active = serializers.BooleanField()
    is_sold_out = serializers.BooleanField()
    track_stock = serializers.BooleanField()
    stock_level = serializers.IntegerField(allow_null=True,
                                           help_text="Available at product level; null when stocked per variant.")
    variants = CatalogVariantOut(many=True)
    option_groups = CatalogOptionGroupOut(many=True)
    attributes = serializers.JSONField()
    version = serializers.IntegerField()
    updated_at = serializers.DateTimeField(allow_null=True)


class CatalogCategoryOut(serializers.Serializer):
    id = serializers.CharField()
    names = NamesField()
    position = serializers.IntegerField()
    is_active = serializers.BooleanField()


class StockAdjustmentIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["receive", "waste", "count"])
    product_id = serializers.CharField(max_length=64)
    variant = serializers.CharField(max_length=64, required=False, allow_null=True, allow_blank=True, default=None)
    quantity = StrictIntegerField(required=False, min_value=1, max_value=1_000_000,
                                  help_text="How many received or wasted (receive, waste).")
    counted = StrictIntegerField(required=False, min_value=0, max_value=1_000_000,
                                 help_text="The level found by a physical count (count).")
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["kind"] == "count":
            if attrs.get("counted") is None:
                raise serializers.ValidationError({"counted": ["Required for a count."]})
            if attrs.get("quantity") is not None:
                raise serializers.ValidationError({"quantity": ["A count takes `counted`, not `quantity`."]})
        else:
            if attrs.get("quantity") is None:
                raise serializers.ValidationError({"quantity": [f"Required for {attrs['kind']}."]})
            if attrs.get("counted") is not None:
                raise serializers.ValidationError({"counted": ["Only a count takes `counted`."]})
        return attrs


class InventoryStockLevelOut(serializers.Serializer):
    product_id = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField()
    threshold = serializers.IntegerField()
    sequence = serializers.IntegerField()
    is_low = serializers.BooleanField()
