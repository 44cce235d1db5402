from __future__ import annotations

from rest_framework import serializers

from pos.api.fields import MinorUnitsField, MoneySerializer

from ..models import Method, MovementKind, PaymentStatus, ShiftStatus
from ..services import MAX_AMOUNT_MINOR

MAX_MINOR_UNITS = 10**15


class PaymentRefundOut(serializers.Serializer):
    id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    amount = MoneySerializer()
    reason = serializers.CharField()
    status = serializers.CharField(help_text="pending, succeeded or failed.")
    provider_reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    shift_id = serializers.UUIDField(allow_null=True, help_text="The cash-drawer shift it counts in.")
    late_for_shift_id = serializers.UUIDField(
        allow_null=True, help_text="Set when the refunded payment's shift had closed: the refund counts in the "
                                   "current shift (shift_id) instead.")


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
    terminal_id = serializers.CharField(help_text="The terminal that took it (blank from other doors).")
    shift_id = serializers.UUIDField(allow_null=True, help_text="The cash-drawer shift it counts in.")
    late_for_shift_id = serializers.UUIDField(
        allow_null=True, help_text="Set when it was started in this shift, which closed before the capture: it "
                                   "counts in shift_id instead.")


class PaymentDetailOut(PaymentOut):
    refunds = PaymentRefundOut(many=True)


class PaymentListFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=PaymentStatus.choices, required=False)
    method = serializers.ChoiceField(choices=Method.choices, required=False)
    reference = serializers.CharField(required=False, max_length=100)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    shift_id = serializers.UUIDField(required=False, help_text="Payments counted in this shift.")


class CheckedAmountField(MinorUnitsField):
    """An amount whose bounds are the payment services' rules, checked for every caller of the api and answered with
    an `invalid-amount` problem naming the field: the schema states them (`schema_limits`); the field itself only
    refuses what is not an integer of a sane size."""

    def __init__(self, *, minimum: int, maximum: int = MAX_AMOUNT_MINOR, **kwargs):
        super().__init__(min_value=-MAX_MINOR_UNITS, max_value=MAX_MINOR_UNITS, **kwargs)
        self.schema_limits = {"minimum": minimum, "maximum": maximum}


class PaymentRefundIn(serializers.Serializer):
    amount = CheckedAmountField(minimum=1, maximum=MAX_MINOR_UNITS,
                                help_text="Minor units; more than zero and at most what is left to refund.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False,
                                      help_text="Defaults to the payment's currency; any other is refused.")
    reason = serializers.CharField(max_length=300)


class PaymentMethodsOut(serializers.Serializer):
    methods = serializers.ListField(child=serializers.CharField())
    currency = serializers.CharField()
    cash_rounding_unit = serializers.IntegerField()


# --- cash drawers and shifts ---------------------------------------------------------------------------------


class ShiftOut(serializers.Serializer):
    id = serializers.UUIDField()
    drawer_id = serializers.UUIDField()
    drawer_name = serializers.CharField()
    status = serializers.CharField(help_text="open or closed.")
    opening_float = MoneySerializer()
    opened_at = serializers.DateTimeField()
    opened_by = serializers.CharField()
    note = serializers.CharField()
    closed_at = serializers.DateTimeField(allow_null=True)
    closed_by = serializers.CharField(help_text="Who closed it: the terminal (or manager).")
    close_note = serializers.CharField()
    counted = serializers.DictField(child=MoneySerializer(), help_text="Counted per method at closing.")
    expected_cash = MoneySerializer(allow_null=True, help_text="Set at closing.")
    counted_cash = MoneySerializer(allow_null=True)
    cash_difference = MoneySerializer(allow_null=True, help_text="Counted − expected: over > 0, short < 0.")
    version = serializers.IntegerField()


class ShiftListFilters(serializers.Serializer):
    status = serializers.ChoiceField(choices=ShiftStatus.choices, required=False)
    drawer_id = serializers.UUIDField(required=False)
    opened_after = serializers.DateTimeField(required=False)
    opened_before = serializers.DateTimeField(required=False)
    result = serializers.ChoiceField(choices=[("over", "over"), ("short", "short"), ("exact", "exact")],
                                     required=False, help_text="Closed shifts whose cash was over, short or exact.")


class ShiftOpenIn(serializers.Serializer):
    opening_float = CheckedAmountField(minimum=0, help_text="Cash in the drawer at opening, minor units (zero or more).")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False,
                                      help_text="Defaults to the restaurant's currency; any other is refused.")
    drawer_id = serializers.UUIDField(required=False, help_text="Defaults to this terminal's drawer (created, named "
                                                                "after the terminal, if it has none). Managers may "
                                                                "name any drawer.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)


class CashMovementIn(serializers.Serializer):
    kind = serializers.ChoiceField(choices=MovementKind.choices, help_text="in (top-up) or out (pay-out).")
    amount = CheckedAmountField(minimum=1, help_text="Minor units, more than zero.")
    currency = serializers.RegexField(r"^[A-Z]{3}$", required=False)
    reason = serializers.CharField(max_length=300, help_text="Why: supplier pay-out, float top-up, correction...")


class CashMovementOut(serializers.Serializer):
    id = serializers.UUIDField()
    shift_id = serializers.UUIDField()
    kind = serializers.CharField()
    amount = MoneySerializer()
    reason = serializers.CharField()
    actor = serializers.CharField()
    created_at = serializers.DateTimeField()


class ShiftCloseIn(serializers.Serializer):
    counted = serializers.DictField(child=CheckedAmountField(minimum=0),
                                    allow_empty=False,
                                    help_text='Counted per method, minor units: {"cash": 152000, "card": 48000}. '
                                              "cash is required; a method left out is reported as not counted.")
    note = serializers.CharField(required=False, allow_blank=True, max_length=300)


class CashSummaryOut(serializers.Serializer):
    opening_float = MoneySerializer()
    sales = MoneySerializer(help_text="Cash taken (rounded totals) = tendered − change.")
    tendered = MoneySerializer()
    change_given = MoneySerializer()
    rounding = MoneySerializer(help_text="Cash rounding included in sales.")
    refunds = MoneySerializer()
    cash_in = MoneySerializer()
    cash_out = MoneySerializer()
    expected = MoneySerializer(help_text="float + tendered − change − refunds + cash in − cash out.")


class MethodTotalsOut(serializers.Serializer):
    method = serializers.CharField()
    sales_count = serializers.IntegerField()
    sales = MoneySerializer()
    refunds_count = serializers.IntegerField()
    refunds = MoneySerializer()
    expected = MoneySerializer()
    counted = MoneySerializer(allow_null=True)
    difference = MoneySerializer(allow_null=True, help_text="Counted − expected: over > 0, short < 0.")


class ShiftReportOut(serializers.Serializer):
    kind = serializers.CharField(help_text="X (open shift, so far) or Z (at closing).")
    shift = ShiftOut()
    generated_at = serializers.DateTimeField()
    cash = CashSummaryOut()
    methods = MethodTotalsOut(many=True)
    movements = CashMovementOut(many=True)
    late_payments = serializers.IntegerField(help_text="Captured here after their own shift had closed.")
    late_refunds = serializers.IntegerField(help_text="Refunds here of payments whose shift had closed.")
    pending_payments = serializers.IntegerField(help_text="Outcome unknown; if captured after closing, they count "
                                                          "in the drawer's next shift.")


class DrawerTerminalOut(serializers.Serializer):
    terminal_id = serializers.UUIDField()
    terminal_name = serializers.CharField()


class DrawerOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    terminals = DrawerTerminalOut(many=True)
    open_shift_id = serializers.UUIDField(allow_null=True)
