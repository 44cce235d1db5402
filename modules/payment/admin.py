"""Admin of the payment module for managers: payments and refunds read-only, refunds through the service,
the simulated provider's behaviour editable (for demos and tests)."""

from __future__ import annotations

import uuid

from django import forms
from django.contrib import admin, messages
from django.template.response import TemplateResponse

from pos.admin import ReadOnlyTenantAdmin, TenantScopedAdmin
from pos.errors import DomainError
from pos.money import Money

from .models import Payment, ProviderBehaviour, Refund, SimulatedProviderEntry
from .services import payment_refund


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
                       "last_error", "created_at", "updated_at", "captured_at", "version"]

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
        refundable = payment.captured_amount - payment.refunded_amount - payment.refund_pending_amount
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
                       "provider_reference", "failure_reason", "actor", "created_at", "updated_at"]


@admin.register(ProviderBehaviour)
class ProviderBehaviourAdmin(TenantScopedAdmin):
    list_display = ["method", "charge_behaviour", "refund_behaviour", "lookup_behaviour", "delay_ms", "updated_at"]
    fields = ["method", "charge_behaviour", "refund_behaviour", "lookup_behaviour", "delay_ms"]


@admin.register(SimulatedProviderEntry)
class SimulatedProviderLedgerAdmin(admin.ModelAdmin):
    """The simulated provider's own side: operators only (it spans merchants)."""

    list_display = ["created_at", "kind", "status", "method", "amount", "currency", "reference", "calls", "merchant_id"]
    list_filter = ["kind", "status", "method"]
    search_fields = ["key", "reference", "charge_reference"]

    def has_module_permission(self, request) -> bool:
        return request.user.is_superuser

    def has_view_permission(self, request, obj=None) -> bool:
        return request.user.is_superuser

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
