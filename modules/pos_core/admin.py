"""Admin of the pos_core module for managers: orders (read-only, with item snapshots), the saga log, low-stock
alerts (close them), and a sales report page with a chart of the last 30 days."""

from __future__ import annotations

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone
from django.utils.html import format_html

from modules.accounts import api as accounts
from pos import tenancy
from pos.admin import OperatorToolAdmin, ReadOnlyTenantAdmin, TenantScopedAdmin
from pos.money import Money

from .models import (
    AlertStatus,
    KitchenStation,
    KitchenTicket,
    LowStockAlert,
    Order,
    OrderAdjustment,
    OrderItem,
    OrderPayment,
    OrderRefund,
    OrderSaga,
    SagaLogEntry,
    TableServiceSettings,
)
from .selectors import daily_totals, end_of_day
from .services import alert_close


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0
    can_delete = False
    fields = ["position", "product_id", "variant", "product_names", "category_names", "options", "unit_price",
              "options_total", "quantity", "line_total", "seat", "note", "voided_quantity", "comped_quantity",
              "comped", "refunded_quantity", "snapshot"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderRefundInline(admin.TabularInline):
    model = OrderRefund
    extra = 0
    can_delete = False
    fields = ["created_at", "amount", "payment_method", "reason", "restocked", "actor", "payment_refund_id"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class _ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class OrderPaymentInline(_ReadOnlyInline):
    """Every tender of a table check (several per check), tips apart."""

    model = OrderPayment
    fk_name = "order"
    fields = ["created_at", "status", "method", "amount", "rounding", "tip", "captured", "tendered", "change_due",
              "payment_id"]
    readonly_fields = fields


class OrderAdjustmentInline(_ReadOnlyInline):
    """Voids, comps and discounts with their reasons and who made them."""

    model = OrderAdjustment
    fk_name = "order"
    fields = ["created_at", "kind", "status", "item", "quantity", "made", "amount", "percent", "reason", "actor",
              "actor_role"]
    readonly_fields = fields


class OrderPartInline(_ReadOnlyInline):
    """The parts a check was split into, each paid on its own."""

    model = Order
    fk_name = "parent"
    verbose_name = "part"
    verbose_name_plural = "parts (split check)"
    fields = ["number", "note", "status", "total", "rounding", "grand_total", "paid", "tips", "payment_method"]
    readonly_fields = fields
    show_change_link = True


class FlaggedFilter(admin.SimpleListFilter):
    title = "open too long"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Flagged (open longer than the limit)")]

    def queryset(self, request, queryset):
        return queryset.filter(flagged_at__isnull=False, status="open") if self.value() == "yes" else queryset


@admin.register(Order)
class OrderAdmin(ReadOnlyTenantAdmin):
    list_display = ["number", "placed_at", "service", "status", "table_code", "payment_method",
                    "grand_total_display", "paid", "tips", "refunded", "flagged_at"]
    list_filter = ["status", "service", FlaggedFilter, ("placed_at", admin.DateFieldListFilter), "payment_method",
                   "table_code"]
    search_fields = ["number", "id", "payment_id", "table_id"]
    date_hierarchy = "placed_at"
    inlines = [OrderItemInline, OrderAdjustmentInline, OrderPaymentInline, OrderPartInline, OrderRefundInline]
    readonly_fields = [f.name for f in Order._meta.fields]

    @admin.display(description="Total", ordering="grand_total")
    def grand_total_display(self, obj: Order) -> str:
        return Money(obj.grand_total, obj.currency).format()

    def get_urls(self):
        return [path("sales-report/", self.admin_site.admin_view(self.sales_report), name="pos_core_sales_report"),
                *super().get_urls()]

    def sales_report(self, request):
        """The last 30 days of sales as an inline SVG bar chart, and today's end-of-day summary."""
        scope = tenancy.current_scope()
        tenants = tenancy.tenant_choices()
        chosen = request.GET.get("tenant")
        if scope is tenancy.ALL_TENANTS:
            tenant_id = chosen or (str(tenants[0][0]) if tenants else None)
        else:
            tenant_id = str(scope) if scope else None
        context = {**self.admin_site.each_context(request), "title": "Sales, last 30 days", "tenants": tenants,
                   "superuser": scope is tenancy.ALL_TENANTS, "tenant_id": tenant_id}
        if tenant_id:
            tenant = accounts.get_tenant(tenant_id)
            days = daily_totals(tenant_id=tenant.id, days=30, tz=tenant.timezone)
            peak = max([gross for _, gross, _ in days] + [1])
            width, height, bar = 900, 240, 26
            bars = []
            for index, (day, gross, refunds) in enumerate(days):
                h = round(gross * (height - 40) / peak)
                r = round(refunds * (height - 40) / peak)
                x = 10 + index * (bar + 4)
                bars.append({"x": x, "y": height - 20 - h, "h": h, "ry": height - 20 - r, "rh": r, "w": bar,
                             "label": day.strftime("%d"), "title": f"{day}: {Money(gross, tenant.currency)} gross, "
                                                                   f"{Money(refunds, tenant.currency)} refunded",
                             "lx": x + bar // 2})
            today = timezone.now().date()
            context.update(tenant=tenant, bars=bars, width=width, height=height, chart_base=height - 20,
                           total=Money(sum(g for _, g, _ in days), tenant.currency),
                           refunds=Money(sum(r for _, _, r in days), tenant.currency),
                           summary=end_of_day(tenant_id=tenant.id, day=today, tz=tenant.timezone,
                                              currency=tenant.currency))
        return TemplateResponse(request, "admin/pos_core/sales_report.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "sales_report_link": True}
        return super().changelist_view(request, extra_context)


admin.site.register_report(title="Sales report", url_name="admin:pos_core_sales_report",
                           description="Daily sales for 30 days, today's end of day, by payment method.")


class SagaLogInline(admin.TabularInline):
    model = SagaLogEntry
    extra = 0
    can_delete = False
    fields = ["at", "action", "outcome", "detail"]
    readonly_fields = fields
    ordering = ["at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(OrderSaga)
class OrderSagaAdmin(OperatorToolAdmin, ReadOnlyTenantAdmin):
    list_display = ["id", "created_at", "status", "step", "current", "attempts", "order_link", "last_error_short"]
    list_filter = ["status", "step", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["id", "idempotency_key", "order_id", "payment_id", "reservation_id"]
    inlines = [SagaLogInline]
    readonly_fields = ["id", "idempotency_key", "status", "step", "current", "order_id", "reservation_id",
                       "reservation_committed", "payment_id", "payment", "error", "attempts", "last_error",
                       "locked_until", "created_at", "updated_at", "finished_at", "request"]
    exclude = ["tenant_id"]

    @admin.display(description="Order")
    def order_link(self, obj: OrderSaga) -> str:
        if obj.status != "completed":
            return "-"
        return format_html('<a href="../order/{}/change/">{}</a>', obj.order_id, str(obj.order_id)[:8])

    @admin.display(description="Last error")
    def last_error_short(self, obj: OrderSaga) -> str:
        return obj.last_error[:80]


@admin.register(LowStockAlert)
class LowStockAlertAdmin(TenantScopedAdmin):
    list_display = ["product_id", "variant", "level", "current_level", "threshold", "status", "opened_at",
                    "closed_at", "resolution"]
    list_filter = ["status", ("opened_at", admin.DateFieldListFilter)]
    search_fields = ["product_id", "variant"]
    actions = ["close_alerts"]
    readonly_fields = ["product_id", "variant", "level", "current_level", "threshold", "status", "opened_at",
                       "closed_at", "closed_by", "resolution"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    @admin.action(description="Close the selected alerts")
    def close_alerts(self, request, queryset) -> None:
        count = 0
        for alert in queryset.filter(status=AlertStatus.OPEN):
            alert_close(tenant_id=alert.tenant_id, alert_id=alert.id, actor=f"admin:{request.user.username}")
            count += 1
        self.message_user(request, f"Closed {count} alert(s).", messages.SUCCESS)


@admin.register(KitchenStation)
class KitchenStationAdmin(TenantScopedAdmin):
    """Preparation stations: which catalog categories each one prepares (the kitchen display filters by key)."""

    list_display = ["key", "names", "category_ids", "is_default", "position"]
    fields = ["key", "names", "category_ids", "is_default", "position"]


@admin.register(TableServiceSettings)
class TableServiceSettingsAdmin(TenantScopedAdmin):
    list_display = ["open_order_limit_minutes", "comps_need_manager", "discounts_need_manager", "voids_need_manager"]
    fields = list_display


@admin.register(KitchenTicket)
class KitchenTicketAdmin(ReadOnlyTenantAdmin):
    list_display = ["created_at", "station", "kind", "status", "order_number", "table_code", "round_number",
                    "bumped_at"]
    list_filter = ["station", "kind", "status", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["order_number", "table_code"]
    readonly_fields = ["order", "round", "adjustment", "station", "kind", "status", "order_number", "table_id",
                       "table_code", "round_number", "lines", "created_at", "bumped_at", "bumped_by"]
    exclude = ["tenant_id"]
