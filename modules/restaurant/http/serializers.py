"""Output and input shapes of the restaurant terminal API."""

from __future__ import annotations

from rest_framework import serializers

from pos.api.fields import MoneySerializer

from ..models import TableStatus


class WindowOut(serializers.Serializer):
    days = serializers.ListField(child=serializers.CharField())
    starts_at = serializers.TimeField(format="%H:%M")
    ends_at = serializers.TimeField(format="%H:%M")


class NamesField(serializers.DictField):
    def __init__(self, **kwargs):
        super().__init__(child=serializers.CharField(), **kwargs)


class OptionChoiceOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    price_delta = MoneySerializer()


class OptionGroupOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    min_select = serializers.IntegerField()
    max_select = serializers.IntegerField()
    choices = OptionChoiceOut(many=True)


class VariantOut(serializers.Serializer):
    key = serializers.CharField()
    names = NamesField()
    price = MoneySerializer()
    stock_level = serializers.IntegerField(allow_null=True)
    is_sold_out = serializers.BooleanField()
    option_groups = OptionGroupOut(many=True)


class MenuItemOut(serializers.Serializer):
    id = serializers.CharField()
    product_id = serializers.CharField()
    names = NamesField()
    position = serializers.IntegerField()
    price = MoneySerializer()
    is_sold_out = serializers.BooleanField()
    stock_level = serializers.IntegerField(allow_null=True)
    category_id = serializers.CharField(allow_null=True)
    variants = VariantOut(many=True)
    option_groups = OptionGroupOut(many=True)


class MenuSectionOut(serializers.Serializer):
    id = serializers.CharField()
    names = NamesField()
    position = serializers.IntegerField()
    items = MenuItemOut(many=True)


class MenuOut(serializers.Serializer):
    id = serializers.CharField()
    name = serializers.CharField()
    available_now = serializers.BooleanField()
    windows = WindowOut(many=True)
    sections = MenuSectionOut(many=True)


class TableOut(serializers.Serializer):
    id = serializers.CharField()
    code = serializers.CharField()
    area = serializers.CharField()
    seats = serializers.IntegerField()
    status = serializers.ChoiceField(choices=TableStatus.choices)
    open_order_ids = serializers.ListField(child=serializers.CharField())
    tab_id = serializers.CharField(allow_null=True)
    version = serializers.IntegerField()


class TableFilterIn(serializers.Serializer):
    area = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=TableStatus.choices, required=False)


class MoveIn(serializers.Serializer):
    target_table_id = serializers.CharField(max_length=64, help_text="The free table the tab moves to.")


class MergeIn(serializers.Serializer):
    other_table_id = serializers.CharField(max_length=64, help_text="The table whose tab joins this one.")
