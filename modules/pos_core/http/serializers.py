"""Serializers of pos_core's terminal API. Input serializers check the shape of a request (types, required fields,
limits) and so document it in the schema; the saga and the services check the business rules (products, stock,
payment methods, tables, amounts due)."""

from __future__ import annotations

from django.conf import settings
from rest_framework import serializers

from pos.api.fields import MinorUnitsField, MoneySerializer, StrictCharField, StrictIntegerField
from pos.money import Money

from ..order_lines import MAX_ITEM_NOTE, MAX_ORDER_NOTE, MAX_QUANTITY, MAX_SEAT


def money(amount: int | None, currency: str) -> dict | None:
    return None if amount is None else Money(amount, currency).to_dict()


class PosCoreOrderItemIn(serializers.Serializer):
    product_id = StrictCharField()
    variant = StrictCharField(required=False, allow_null=True, help_text="Required for a product with variants.")
    quantity = StrictIntegerField(min_value=1, max_value=MAX_QUANTITY)
    options = serializers.ListField(child=serializers.JSONField(), required=False, allow_null=True,
                                    help_text='Choice keys, or {"group", "choice"} objects.')
    seat = StrictIntegerField(required=False, allow_null=True, min_value=1, max_value=MAX_SEAT,
                              help_text="Table checks.")
    note = StrictCharField(required=False, allow_blank=True, max_length=MAX_ITEM_NOTE, help_text="Table checks.")


class PosCorePaymentIn(serializers.Serializer):
    method = StrictCharField(help_text="One of the restaurant's accepted methods (GET payments/methods).")
    tendered = MinorUnitsField(required=False, allow_null=True, min_value=1,
                               help_text="Cash handed over, minor units (cash only): at least the amount due, at most "
                                         "the amount due plus the restaurant's largest change (cash_max_change).")


class OrderIn(serializers.Serializer):
    service = serializers.ChoiceField(choices=["counter", "table"], default="counter",
                                      help_text='"table" opens a check on `table_id` (no payment; pay later).')
    items = PosCoreOrderItemIn(many=True, required=False, max_length=settings.POS_ORDER_MAX_LINES,
                               help_text="Required for counter orders; on a table check, its first round.")
    payment = PosCorePaymentIn(required=False, help_text="Counter orders only.")
    table_id = StrictCharField(required=False, allow_null=True, help_text="Required for a table check.")
    note = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=MAX_ORDER_NOTE)

    def validate(self, attrs):
        if attrs["service"] == "table":
            errors = {}
            if attrs.get("payment") is not None:
                errors["payment"] = "A table check is paid later, through its payments."
            if not attrs.get("table_id"):
                errors["table_id"] = "A table check needs a table."
            if errors:
                raise serializers.ValidationError(errors)
        return attrs


class PosCoreOptionOut(serializers.Serializer):
    group = serializers.CharField()
    key = serializers.CharField()
    names = serializers.DictField(child=serializers.CharField())
    price_delta = MoneySerializer()


class OrderItemOut(serializers.Serializer):
    id = serializers.UUIDField()
    product_id = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    product_names = serializers.DictField(child=serializers.CharField())
    variant_names = serializers.DictField(child=serializers.CharField())
    category_id = serializers.CharField(allow_null=True)
    category_names = serializers.DictField(child=serializers.CharField())
    options = PosCoreOptionOut(many=True)
    unit_price = MoneySerializer()
    options_total = MoneySerializer()
    quantity = serializers.IntegerField()
    refunded_quantity = serializers.IntegerField()
    line_total = MoneySerializer()
    seat = serializers.IntegerField(allow_null=True)
    note = serializers.CharField()
    round_id = serializers.UUIDField(allow_null=True, help_text="Table service: the round that sent it.")
    voided_quantity = serializers.IntegerField()
    comped_quantity = serializers.IntegerField()
    comped = MoneySerializer()
    flags = serializers.ListField(child=serializers.CharField(), help_text=(
        "Notes on how the line's snapshot was made when it was imported, e.g. \"price:current_price\" when the "
        "price at order time was missing (see docs/LEGACY.md). Empty for orders placed here."))

    def to_representation(self, item):
        c = item.currency
        return {
            "id": str(item.id), "product_id": item.product_id, "variant": item.variant or None,
            "product_names": item.product_names, "variant_names": item.variant_names,
            "category_id": item.category_id or None, "category_names": item.category_names,
            "options": [{"group": o["group"], "key": o["key"], "names": o["names"],
                         "price_delta": money(o["price_delta"], c)} for o in item.options],
            "unit_price": money(item.unit_price, c), "options_total": money(item.options_total, c),
            "quantity": item.quantity, "refunded_quantity": item.refunded_quantity,
            "line_total": money(item.line_total, c), "seat": item.seat, "note": item.note,
            "round_id": str(item.round_id) if item.round_id else None, "voided_quantity": item.voided_quantity,
            "comped_quantity": item.comped_quantity, "comped": money(item.comped, c),
            "flags": list((item.snapshot or {}).get("flags", [])),
        }


class PosCoreTotalsOut(serializers.Serializer):
    subtotal = MoneySerializer()
    service_charge = MoneySerializer()
    tax = MoneySerializer()
    tax_inclusive = serializers.BooleanField()
    total = MoneySerializer()
    rounding = MoneySerializer(help_text="Cash rounding line (from the payment).")
    discount = MoneySerializer(help_text="Comps and discounts (table service).")
    grand_total = MoneySerializer()
    refunded = MoneySerializer()


class OrderPaymentOut(serializers.Serializer):
    id = serializers.CharField()
    method = serializers.CharField()
    captured = MoneySerializer()
    tendered = MoneySerializer(allow_null=True)
    change_due = MoneySerializer(allow_null=True)


class OrderTenderOut(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.CharField()
    method = serializers.CharField()
    amount = MoneySerializer(help_text="Toward the bill, with its cash rounding.")
    tip = MoneySerializer()
    captured = MoneySerializer(help_text="What was taken: amount, rounding and tip.")
    tendered = MoneySerializer(allow_null=True)
    change_due = MoneySerializer(allow_null=True)
    payment_id = serializers.CharField()

    def to_representation(self, row):
        c = row.currency
        return {"id": str(row.id), "status": row.status, "method": row.method,
                "amount": money(row.amount + row.rounding, c), "tip": money(row.tip, c),
                "captured": money(row.captured, c), "tendered": money(row.tendered, c),
                "change_due": money(row.change_due, c), "payment_id": row.payment_id}


class OrderOut(serializers.Serializer):
    id = serializers.UUIDField()
    number = serializers.CharField()
    service = serializers.ChoiceField(choices=["counter", "table"])
    status = serializers.CharField()
    version = serializers.IntegerField()
    table_id = serializers.CharField(allow_null=True)
    note = serializers.CharField()
    placed_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField(allow_null=True)
    items = OrderItemOut(many=True)
    totals = PosCoreTotalsOut()
    payment = OrderPaymentOut()
    parent_id = serializers.UUIDField(allow_null=True, help_text="Table service: the check this part was split from.")
    split = serializers.CharField(allow_null=True, help_text="items | seats | equal once the check was split.")
    part_ids = serializers.ListField(child=serializers.UUIDField())
    paid = MoneySerializer(help_text="Table service: captured toward the bill (tips apart).")
    due = MoneySerializer(help_text="Table service: still to pay.")
    tips = MoneySerializer()
    payments = OrderTenderOut(many=True, help_text="Table service: every tender.")
    flagged = serializers.BooleanField(help_text="Open longer than the restaurant's limit.")

    def to_representation(self, order):
        c = order.currency
        table = order.service == "table"
        payments = list(order.payments.all()) if table else []
        return {
            "id": str(order.id), "number": order.number, "service": order.service, "status": order.status,
            "version": order.version, "table_id": order.table_id, "note": order.note,
            "parent_id": str(order.parent_id) if order.parent_id else None, "split": order.split_kind or None,
            "part_ids": [str(p.id) for p in sorted(order.parts.all(), key=lambda p: (len(p.number), p.number))]
            if order.split_kind else [],
            "paid": money(order.paid, c), "due": money(max(order.grand_total - order.paid, 0) if table else 0, c),
            "tips": money(order.tips, c), "payments": [OrderTenderOut().to_representation(p) for p in payments],
            "flagged": order.flagged_at is not None,
            "placed_at": serializers.DateTimeField().to_representation(order.placed_at),
            "completed_at": (serializers.DateTimeField().to_representation(order.completed_at)
                             if order.completed_at else None),
            "items": [OrderItemOut().to_representation(item) for item in order.items.all()],
            "totals": {"subtotal": money(order.subtotal, c), "service_charge": money(order.service_charge, c),
                       "tax": money(order.tax, c), "tax_inclusive": order.tax_inclusive,
                       "total": money(order.total, c), "rounding": money(order.rounding, c),
                       "grand_total": money(order.grand_total, c), "refunded": money(order.refunded, c),
                       "discount": money(order.discount, c)},
            "payment": {"id": order.payment_id, "method": order.payment_method,
                        "captured": money(order.grand_total, c), "tendered": money(order.tendered, c),
                        "change_due": money(order.change_due, c)},
        }


class PosCoreOrderFilters(serializers.Serializer):
    date_from = serializers.DateField(required=False, help_text="Placed on or after this day (tenant's time zone).")
    date_to = serializers.DateField(required=False, help_text="Placed on or before this day.")
    status = serializers.ChoiceField(required=False, choices=["open", "completed", "cancelled", "partially_refunded",
                                                              "refunded"])
    table_id = serializers.CharField(required=False)
    service = serializers.ChoiceField(required=False, choices=["counter", "table"])
    flagged = serializers.BooleanField(required=False, allow_null=True, default=None,
                                       help_text="Open checks older than the restaurant's limit.")

    def validate(self, attrs):
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"date_to": "date_to must not be before date_from."})
        return attrs


class PosCoreRefundItemIn(serializers.Serializer):
    item_id = serializers.UUIDField()
    quantity = StrictIntegerField(min_value=1, max_value=10_000)


class PosCoreRefundIn(serializers.Serializer):
    amount = MinorUnitsField(required=False, min_value=1, help_text="Minor units; default: what is left.")
    items = PosCoreRefundItemIn(many=True, required=False)
    restock = serializers.BooleanField(default=False, help_text="Put the refunded items back in stock.")
    reason = serializers.CharField(required=False, allow_blank=True, max_length=300, default="")
    version = StrictIntegerField(required=False, help_text="The order version you saw; stale -> 409.")


class PosCoreRefundOut(serializers.Serializer):
    id = serializers.UUIDField()
    order_id = serializers.UUIDField()
    amount = MoneySerializer()
    payment_method = serializers.CharField()
    payment_refund_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["pending", "succeeded", "failed"])
    source = serializers.ChoiceField(choices=["order", "payment"], help_text="Asked on the order, or on the payment.")
    restocked = serializers.BooleanField()
    reason = serializers.CharField()
    created_at = serializers.DateTimeField()
    order = OrderOut()

    def to_representation(self, refund):
        return {"id": str(refund.id), "order_id": str(refund.order_id), "amount": money(refund.amount, refund.currency),
                "payment_method": refund.payment_method, "payment_refund_id": refund.payment_refund_id,
                "status": refund.status, "source": refund.source, "restocked": refund.restocked, "reason": refund.reason,
                "created_at": serializers.DateTimeField().to_representation(refund.created_at),
                "order": OrderOut().to_representation(refund.order)}


class PosCoreReceiptLineOut(serializers.Serializer):
    quantity = serializers.IntegerField()
    names = serializers.DictField(child=serializers.CharField(), help_text="Per locale.")
    options = serializers.ListField(child=serializers.DictField())
    unit_price = serializers.CharField()
    line_total = serializers.CharField()


class PosCoreReceiptOut(serializers.Serializer):
    order_id = serializers.UUIDField()
    number = serializers.CharField()
    restaurant = serializers.CharField()
    locales = serializers.ListField(child=serializers.CharField())
    placed_at = serializers.DateTimeField()
    table = serializers.CharField(allow_null=True)
    lines = PosCoreReceiptLineOut(many=True)
    totals = serializers.ListField(child=serializers.DictField())
    payment = serializers.DictField()
    tenders = serializers.ListField(child=serializers.DictField(),
                                    help_text="A table check's tenders (method, amount, tip, tip_refunded: of "
                                              "the tip, given back); empty for counter orders.")
    text = serializers.DictField(child=serializers.CharField(), help_text="The printable receipt per locale.")


class PosCoreSalesFilters(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    group_by = serializers.ChoiceField(choices=["day", "product", "category", "payment_method"], default="day")

    def validate(self, attrs):
        if attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError({"to": "to must not be before from."})
        if (attrs["date_to"] - attrs["date_from"]).days > 366:
            raise serializers.ValidationError({"to": "A report covers at most 366 days."})
        return attrs


class PosCoreSalesRowOut(serializers.Serializer):
    day = serializers.DateField(required=False)
    product_id = serializers.CharField(required=False)
    variant = serializers.CharField(required=False, allow_null=True)
    category_id = serializers.CharField(required=False, allow_null=True)
    payment_method = serializers.CharField(required=False)
    names = serializers.DictField(required=False)
    quantity = serializers.IntegerField()
    orders = serializers.IntegerField()
    gross = serializers.IntegerField()
    refunds = serializers.IntegerField()
    refunded_quantity = serializers.IntegerField()
    net = serializers.IntegerField()
    tips = serializers.IntegerField(required=False, help_text="group_by=payment_method: tips taken with table "
                                                              "payments, less tips given back; not in gross or net.")
    currency = serializers.CharField()


class PosCoreSalesReportOut(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    group_by = serializers.CharField()
    currency = serializers.CharField()
    rows = PosCoreSalesRowOut(many=True)
    totals = serializers.DictField()


class PosCoreEndOfDayOut(serializers.Serializer):
    date = serializers.DateField()
    timezone = serializers.CharField()
    currency = serializers.CharField()
    orders = serializers.IntegerField()
    items_sold = serializers.IntegerField()
    subtotal = serializers.IntegerField()
    service_charge = serializers.IntegerField()
    tax = serializers.IntegerField()
    rounding = serializers.IntegerField()
    gross = serializers.IntegerField()
    refunds = serializers.IntegerField()
    refund_count = serializers.IntegerField()
    net = serializers.IntegerField()
    open_tabs = serializers.IntegerField()
    tips = serializers.IntegerField(help_text="Tips taken with table payments; not in gross or net.")
    open_checks = serializers.IntegerField()
    open_checks_due = serializers.IntegerField()
    flagged_checks = serializers.IntegerField(help_text="Open checks older than the restaurant's limit (any day).")
    payment_methods = serializers.ListField(child=serializers.DictField(), help_text=(
        "Per method: orders, gross, refunds, net, tips. A table check paid by several methods counts under each "
        "with what that tender paid toward the bill; tips are never in gross or net."))


class PosCoreAlertOut(serializers.Serializer):
    id = serializers.UUIDField()
    product_id = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    level = serializers.IntegerField()
    current_level = serializers.IntegerField()
    threshold = serializers.IntegerField()
    status = serializers.CharField()
    opened_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    resolution = serializers.CharField()


class PosCoreAlertFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=["open", "closed"], required=False)


class PosCoreStockLevelOut(serializers.Serializer):
    product_id = serializers.CharField()
    variant = serializers.CharField(allow_null=True)
    level = serializers.IntegerField()
    threshold = serializers.IntegerField()
    sequence = serializers.IntegerField()
    source = serializers.CharField()
