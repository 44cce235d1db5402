"""Admin of the payment module for managers: payments and refunds read-only, refunds through the service,
the simulated provider's behaviour editable by operators outside production (for demos and drills)."""

from __future__ import annotations

import uuid

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html, format_html_join

from modules.accounts import api as accounts
from pos import tenancy
from pos.admin import OperatorToolAdmin, ReadOnlyTenantAdmin, TenantScopedAdmin
from pos.errors import DomainError
from pos.money import Money

from .dto import ShiftReport
from .models import (
    CashDrawer,
    CashMovement,
    DrawerTerminal,
    MovementKind,
    Payment,
    ProviderBehaviour,
    Refund,
    Shift,
    ShiftStatus,
    SimulatedProviderEntry,
)
from .selectors import shift_report
from .services import drawer_assign_terminal, payment_refund, shift_cash_movement


class RefundForm(forms.Form):
    amount = forms.IntegerField(min_value=1, help_text="Minor units (MMK has none).")
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 60}))
    key = forms.CharField(widget=forms.HiddenInput, max_length=255)  # one refund per form, however often submitted


class RefundInline(admin.TabularInline):
    model = Refund
    extra = 0
    can_delete = False
    fields = ["created_at", "amount", "currency", "status", "reason", "actor", "provider_reference"]
    readonly_fields = fields
    ordering = ["created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "method", "status", "amount_display", "captured_display", "refunded_display",
                    "reference", "provider_reference"]
    list_filter = ["status", "method", "created_at"]
    search_fields = ["reference", "provider_reference", "idempotency_key"]
    date_hierarchy = "created_at"
    ordering = ["-created_at"]
    inlines = [RefundInline]
    actions = ["refund"]
    readonly_fields = ["id", "method", "status", "amount", "currency", "rounding_adjustment", "captured_amount",
                       "refunded_amount", "refund_pending_amount", "tendered", "change_due", "reference",
                       "idempotency_key", "provider", "provider_key", "provider_reference", "decline_reason",
                       "last_error", "created_at", "updated_at", "captured_at", "version", "terminal_id", "drawer",
                       "shift", "late_for_shift"]

    @admin.display(description="Amount")
    def amount_display(self, obj: Payment) -> str:
        return str(Money(obj.amount, obj.currency))

    @admin.display(description="Captured")
    def captured_display(self, obj: Payment) -> str:
        return str(Money(obj.captured_amount, obj.currency))

    @admin.display(description="Refunded")
    def refunded_display(self, obj: Payment) -> str:
        return str(Money(obj.refunded_amount, obj.currency))

    @admin.action(description="Refund the selected payment")
    def refund(self, request, queryset):
        payments = list(queryset[:2])
        if len(payments) != 1:
            self.message_user(request, "Select exactly one payment to refund.", level=messages.ERROR)
            return None
        payment = payments[0]
        refundable = payment.refundable_amount
        if "apply" in request.POST:
            form = RefundForm(request.POST)
            if form.is_valid():
                try:
                    refund = payment_refund(
                        tenant_id=payment.tenant_id, payment_id=payment.id,
                        amount=Money(form.cleaned_data["amount"], payment.currency),
                        idempotency_key=form.cleaned_data["key"], reason=form.cleaned_data["reason"],
                        actor=f"admin:{request.user.get_username()}")
                except DomainError as exc:
                    self.message_user(request, f"Refund refused: {exc.detail}", level=messages.ERROR)
                    return None
                accounts.audit(tenant_id=payment.tenant_id, action="payment.refunded",
                               actor=accounts.actor_of(request.user), object_type="payment", object_id=str(payment.id),
                               before={"refunded": payment.refunded_amount},
                               after={"refund_id": str(refund.id), "amount": refund.amount.amount,
                                      "currency": refund.amount.currency, "status": refund.status,
                                      "reason": form.cleaned_data["reason"]})
                self.message_user(request, f"Refunded {Money(refund.amount.amount, refund.amount.currency)} "
                                           f"({refund.status}).", level=messages.SUCCESS)
                return None
        else:
            form = RefundForm(initial={"amount": max(refundable, 0), "key": f"admin-{uuid.uuid4()}"})
        context = {
            **self.admin_site.each_context(request), "title": "Refund payment", "opts": self.model._meta,
            "payment": payment, "form": form, "refundable": Money(max(refundable, 0), payment.currency),
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/payment/payment/refund.html", context)


@admin.register(Refund)
class RefundAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "payment", "amount", "currency", "status", "reason", "actor"]
    list_filter = ["status", "created_at"]
    search_fields = ["reason", "idempotency_key", "provider_reference"]
    list_select_related = ["payment"]
    readonly_fields = ["id", "payment", "amount", "currency", "reason", "status", "idempotency_key", "provider_key",
                       "provider_reference", "failure_reason", "actor", "created_at", "updated_at", "terminal_id",
                       "drawer", "shift", "late_for_shift"]


class ProviderBehaviourAdmin(OperatorToolAdmin, TenantScopedAdmin):
    """How the simulated provider answers (approve, decline, time out, lose the answer): for demos and drills."""

    list_display = ["method", "charge_behaviour", "refund_behaviour", "lookup_behaviour", "delay_ms", "updated_at"]
    fields = ["method", "charge_behaviour", "refund_behaviour", "lookup_behaviour", "delay_ms"]


class SimulatedProviderLedgerAdmin(OperatorToolAdmin):
    """The simulated provider's own side: operators only (it spans merchants), never edited."""

    list_display = ["created_at", "kind", "status", "method", "amount", "currency", "reference", "calls", "merchant_id"]
    list_filter = ["kind", "status", "method"]
    search_fields = ["key", "reference", "charge_reference"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


# --- cash drawers and shifts ---------------------------------------------------------------------------------


def _money(minor: int | None, currency: str) -> str:
    return "—" if minor is None else str(Money(minor, currency))


class DrawerTerminalForm(forms.ModelForm):
    terminal = forms.ChoiceField(help_text="Its cash goes into this drawer (moved from any other drawer).")

    class Meta:
        model = DrawerTerminal
        fields: list[str] = []

    def __init__(self, *args, tenant_id=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant_id = tenant_id
        choices = [(str(t.id), t.name) for t in accounts.list_terminals(tenant_id=tenant_id)] if tenant_id else []
        self.fields["terminal"].choices = [("", "---------"), *choices]
        if self.instance.pk:
            self.fields["terminal"].initial = str(self.instance.terminal_id)


class DrawerTerminalInline(admin.TabularInline):
    model = DrawerTerminal
    form = DrawerTerminalForm
    extra = 1
    fields = ["terminal", "assigned_at"]
    readonly_fields = ["assigned_at"]

    def get_formset(self, request, obj=None, **kwargs):
        formset = super().get_formset(request, obj, **kwargs)
        tenant_id = obj.tenant_id if obj is not None else None

        class Bound(formset):
            def get_form_kwargs(self, index):
                return {**super().get_form_kwargs(index), "tenant_id": tenant_id}

        return Bound


@admin.register(CashDrawer)
class CashDrawerAdmin(TenantScopedAdmin):
    """Drawers and the terminals whose cash goes into them. Shifts are opened and closed from the terminals."""

    list_display = ["name", "terminal_names", "open_shift", "created_at"]
    search_fields = ["name"]
    fields = ["name"]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("terminals")

    def get_inlines(self, request, obj):
        return [DrawerTerminalInline] if obj is not None else []

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # shifts keep their drawer; rename it or move its terminals instead

    @admin.display(description="Terminals")
    def terminal_names(self, obj: CashDrawer) -> str:
        return ", ".join(link.terminal_name for link in obj.terminals.all()) or "—"

    @admin.display(description="Open shift")
    def open_shift(self, obj: CashDrawer) -> str:
        shift = getattr(obj, "_open_shift", None)
        if shift is None:
            shift = Shift.objects.filter(drawer=obj, status=ShiftStatus.OPEN).first()
        return f"since {shift.opened_at:%Y-%m-%d %H:%M}" if shift else "—"

    def get_changelist_instance(self, request):
        changelist = super().get_changelist_instance(request)
        drawers = list(changelist.result_list)
        open_shifts = {s.drawer_id: s for s in Shift.objects.filter(drawer__in=drawers, status=ShiftStatus.OPEN)}
        for drawer in drawers:
            drawer._open_shift = open_shifts.get(drawer.id)
        return changelist

    def save_formset(self, request, form, formset, change) -> None:
        drawer = form.instance
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []  # the change message
        with tenancy.tenant_context(drawer.tenant_id):
            for inline in formset.forms:
                if not inline.has_changed() and not inline.instance.pk:
                    continue
                if inline in formset.deleted_forms:
                    if inline.instance.pk:
                        DrawerTerminal.objects.filter(pk=inline.instance.pk).delete()
                    continue
                terminal = inline.cleaned_data.get("terminal")
                if not terminal:
                    continue
                if inline.instance.pk and str(inline.instance.terminal_id) != terminal:
                    DrawerTerminal.objects.filter(pk=inline.instance.pk).delete()
                drawer_assign_terminal(tenant_id=drawer.tenant_id, drawer_id=drawer.id, terminal_id=terminal)


class CashMovementInline(admin.TabularInline):
    model = CashMovement
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "amount", "currency", "reason", "actor"]
    readonly_fields = fields
    ordering = ["created_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class ShiftResultFilter(admin.SimpleListFilter):
    title = "cash count"
    parameter_name = "result"

    def lookups(self, request, model_admin):
        return [("short", "Short"), ("over", "Over"), ("exact", "Exact")]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "short":
            return queryset.filter(cash_difference__lt=0)
        if value == "over":
            return queryset.filter(cash_difference__gt=0)
        if value == "exact":
            return queryset.filter(cash_difference=0)
        return queryset


class CashMovementForm(forms.Form):
    kind = forms.ChoiceField(choices=MovementKind.choices)
    amount = forms.IntegerField(min_value=1, help_text="Minor units (MMK has none).")
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 60}),
                             help_text="Pay-out to a supplier, float top-up, correction of an earlier count...")
    key = forms.CharField(widget=forms.HiddenInput, max_length=255)  # one movement per form, however often submitted


@admin.register(Shift)
class ShiftAdmin(ReadOnlyTenantAdmin):
    """Shifts with their X (open) or Z (closed) report, and the over/short history. Nothing here reopens or
    edits a shift: a correction is a new cash movement, with a reason, in an open shift."""

    list_display = ["opened_at", "drawer", "status", "opened_by", "closed_at", "closed_by", "float_display",
                    "expected_display", "counted_display", "difference_display"]
    list_filter = ["status", ShiftResultFilter, "drawer", "opened_at"]
    list_select_related = ["drawer"]
    date_hierarchy = "opened_at"
    ordering = ["-opened_at"]
    inlines = [CashMovementInline]
    actions = ["record_cash_movement"]
    fields = ["drawer", "status", "opened_at", "opened_by", "note", "closed_at", "closed_by", "close_note",
              "report_display"]
    readonly_fields = fields

    @admin.display(description="Float")
    def float_display(self, obj: Shift) -> str:
        return _money(obj.opening_float, obj.currency)

    @admin.display(description="Expected cash")
    def expected_display(self, obj: Shift) -> str:
        return _money(obj.expected_cash, obj.currency)

    @admin.display(description="Counted cash")
    def counted_display(self, obj: Shift) -> str:
        return _money(obj.counted_cash, obj.currency)

    @admin.display(description="Over / short", ordering="cash_difference")
    def difference_display(self, obj: Shift) -> str:
        if obj.cash_difference is None:
            return "—"
        label = "exact" if obj.cash_difference == 0 else ("over" if obj.cash_difference > 0 else "short")
        return f"{_money(obj.cash_difference, obj.currency)} ({label})"

    @admin.display(description="Report")
    def report_display(self, obj: Shift) -> str:
        report: ShiftReport = shift_report(tenant_id=obj.tenant_id, shift_id=obj.id)
        cash = report.cash
        rows = [("Opening float", cash.opening_float), ("Cash tendered", cash.tendered),
                ("Change given", -cash.change_given), ("Cash refunds", -cash.refunds), ("Cash in", cash.cash_in),
                ("Cash out", -cash.cash_out), ("Expected cash", cash.expected)]
        title = ("X report (so far)" if report.kind == "X"
                 else f"Z report, closed {obj.closed_at:%Y-%m-%d %H:%M} by {obj.closed_by}")
        methods = format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", (
            (line.method, f"{line.sales} ({line.sales_count})", f"{line.refunds} ({line.refunds_count})",
             line.expected, line.counted if line.counted is not None else "not counted",
             line.difference if line.difference is not None else "—") for line in report.methods))
        movements = format_html_join("", "<li>{} {} — {} ({})</li>", (
            (MovementKind(mv.kind).label, mv.amount, mv.reason, mv.actor)
            for mv in report.movements)) or "none"
        return format_html(
            "<strong>{}</strong><table><tbody>{}</tbody></table>"
            "<table><thead><tr><th>Method</th><th>Sales</th><th>Refunds</th><th>Expected</th><th>Counted</th>"
            "<th>Difference</th></tr></thead><tbody>{}</tbody></table>"
            "<p>Cash movements: <ul>{}</ul></p><p>Late payments: {} · late refunds: {} · pending payments: {}</p>",
            title, format_html_join("", "<tr><td>{}</td><td>{}</td></tr>", rows), methods, movements,
            report.late_payments, report.late_refunds, report.pending_payments)

    @admin.action(description="Record a cash movement in the selected open shift")
    def record_cash_movement(self, request, queryset):
        shifts = list(queryset[:2])
        if len(shifts) != 1 or shifts[0].status != ShiftStatus.OPEN:
            self.message_user(request, "Select exactly one open shift; a closed shift never changes (record the "
                                       "correction in the drawer's current shift).", level=messages.ERROR)
            return None
        shift = shifts[0]
        if "apply" in request.POST:
            form = CashMovementForm(request.POST)
            if form.is_valid():
                try:
                    movement = shift_cash_movement(
                        tenant_id=shift.tenant_id, shift_id=shift.id, kind=form.cleaned_data["kind"],
                        amount=Money(form.cleaned_data["amount"], shift.currency),
                        reason=form.cleaned_data["reason"], idempotency_key=form.cleaned_data["key"],
                        actor=f"admin:{request.user.get_username()}", any_drawer=True)
                except DomainError as exc:
                    self.message_user(request, f"Cash movement refused: {exc.detail}", level=messages.ERROR)
                    return None
                self.message_user(request, f"Recorded {movement.kind} {movement.amount}: {movement.reason}.",
                                  level=messages.SUCCESS)
                return None
        else:
            form = CashMovementForm(initial={"key": f"admin-{uuid.uuid4()}"})
        context = {
            **self.admin_site.each_context(request), "title": "Record a cash movement", "opts": self.model._meta,
            "shift": shift, "form": form, "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/payment/shift/cash_movement.html", context)


@admin.register(CashMovement)
class CashMovementAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "shift", "kind", "amount", "currency", "reason", "actor"]
    list_filter = ["kind", "created_at"]
    search_fields = ["reason", "actor"]
    list_select_related = ["shift", "shift__drawer"]
# The simulator stands in for the card and wallet provider outside production only; its controls are never shown
# where real money moves.
if not settings.PRODUCTION:
    admin.site.register(ProviderBehaviour, ProviderBehaviourAdmin)
    admin.site.register(SimulatedProviderEntry, SimulatedProviderLedgerAdmin)

admin.site.register_report(title="Shifts and Z reports", url_name="admin:payment_shift_changelist",
                           description="Each drawer's shifts: expected against counted, over and short.")
