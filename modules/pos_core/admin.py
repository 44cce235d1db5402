"""Admin of the pos_core module for managers: orders (read-only, with item snapshots), the saga log, low-stock
alerts (close them), and a sales report page with a chart of the last 30 days."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from pos import tenancy
from pos.admin import OperatorToolAdmin, ReadOnlyTenantAdmin, TenantScopedAdmin
from pos.errors import DomainError
from pos.money import Money
from pos.operators import is_operator

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
from .receipts import build_receipt
from .refunds import refund_order
from .selectors import end_of_day, sales_report, sales_report_csv
from .services import REFUNDABLE_ORDER_STATUSES, alert_close, refund_plan
from .table_service.flows import cancel_check


def _name(names: dict[str, str], locale: str) -> str:
    return names.get(locale) or next((n for n in names.values() if n), "")


def item_label(item: OrderItem, locale: str) -> str:
    """What was sold, as the receipt names it: the product's name and its variant's, in the restaurant's language."""
    name = _name(item.product_names, locale) or item.product_id
    variant = _name(item.variant_names or {}, locale) or item.variant
    return f"{name} ({variant})" if variant else name


class OrderRefundForm(forms.Form):
    """Items (how many of each line) or an amount; a reason; whether the items go back to stock."""

    amount = forms.IntegerField(required=False, min_value=1, label="Or an amount",
                                help_text="In minor units (MMK: kyat). Leave empty when refunding items.")
    reason = forms.CharField(max_length=300, widget=forms.TextInput(attrs={"size": 60}))
    restock = forms.BooleanField(required=False, label="Put the refunded items back into stock",
                                 help_text="Only for food that was not made or served.")
    key = forms.CharField(widget=forms.HiddenInput, max_length=64)  # one refund per form, however often submitted

    def __init__(self, *args, items: list[OrderItem], **kwargs):
        super().__init__(*args, **kwargs)
        self.items = items
        for item in items:
            left = item.refundable_quantity
            self.fields[f"quantity_{item.id}"] = forms.IntegerField(
                required=False, min_value=0, max_value=max(left, 0), label=item_label(item, "en"),
                help_text=f"{left} of {item.quantity} can still be refunded.")

    def item_fields(self):
        return [self[f"quantity_{item.id}"] for item in self.items]

    def clean(self):
        data = super().clean()
        chosen = [(item, data.get(f"quantity_{item.id}") or 0) for item in self.items]
        if any(q for _, q in chosen) and data.get("amount"):
            raise forms.ValidationError("Refund either items or an amount, not both.")
        if not any(q for _, q in chosen) and not data.get("amount"):
            raise forms.ValidationError("Say how many of which items to refund, or an amount.")
        return data

    def plan(self) -> dict:
        data = self.cleaned_data
        return {"amount": data.get("amount") or None,
                "items": [(item, data[f"quantity_{item.id}"]) for item in self.items if data.get(f"quantity_{item.id}")]}


class SalesReportForm(forms.Form):
    date_from = forms.DateField(label="From", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="To", widget=forms.DateInput(attrs={"type": "date"}))
    group_by = forms.ChoiceField(label="By", choices=[("day", "Day"), ("product", "Product"), ("category", "Category"),
                                                      ("payment_method", "Payment method")])

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to"):
            if data["date_from"] > data["date_to"]:
                raise forms.ValidationError("The first day comes after the last.")
            if (data["date_to"] - data["date_from"]).days > 366:
                raise forms.ValidationError("At most a year at a time.")
        return data


class EndOfDayForm(forms.Form):
    day = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))


def _report_label(row: dict, group_by: str, locale: str) -> str:
    if group_by == "day":
        return row["day"] or "—"
    if group_by == "payment_method":
        return row["payment_method"] or "—"
    names = row.get("names") or {}
    if group_by == "product":
        name = _name(names.get("product", {}), locale) or row["product_id"]
        variant = _name(names.get("variant") or {}, locale) or row["variant"]
        return f"{name} ({variant})" if variant else name
    return _name(names, locale) or row["category_id"] or "Uncategorised"


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
    fields = ["created_at", "amount", "status", "source", "payment_method", "reason", "restocked", "actor",
              "payment_refund_id", "failure"]
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
    actions = ["refund_in_full", "cancel_abandoned_checks"]

    @admin.action(description="Cancel the selected abandoned checks (nothing paid; their stock is released)")
    def cancel_abandoned_checks(self, request, queryset) -> None:
        """A table check nobody will pay: cancelled, its rounds' stock back on sale, in the audit log. A check
        with money taken or a payment in flight is refused (refund it instead)."""
        done, refused = 0, []
        for order in queryset:
            if order.service != "table":
                refused.append(f"{order.number}: a counter order is not a check; refund it instead.")
                continue
            before = {"status": order.status, "grand_total": order.grand_total, "flagged": order.flagged_at is not None}
            try:
                cancelled = cancel_check(tenant_id=order.tenant_id, order_id=order.id)
            except DomainError as exc:
                refused.append(f"{order.number}: {exc.detail}")
                continue
            accounts.audit(tenant_id=order.tenant_id, action="order.cancelled", actor=accounts.actor_of(request.user),
                           object_type="order", object_id=str(order.id), before=before,
                           after={"status": cancelled.status, "reason": "abandoned check cancelled in the admin"})
            done += 1
        if done:
            self.message_user(request, f"{done} check(s) cancelled; their stock is back on sale.", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, f"Not cancelled: {problem}", messages.ERROR)

    @admin.action(description="Refund what is left of the selected orders (no restock)")
    def refund_in_full(self, request, queryset) -> None:
        """The same refund as the terminal's, keyed by the order's version: a double submit refunds once."""
        done, refused = 0, []
        for order in queryset:
            try:
                refund_order(tenant_id=order.tenant_id, order_id=order.id,
                             idempotency_key=f"admin:{order.id}:v{order.version}", reason="refunded in the admin",
                             actor=f"admin:{request.user.get_username()}")
                done += 1
            except DomainError as exc:
                refused.append(f"{order.number}: {exc.detail}")
        if done:
            self.message_user(request, f"{done} order(s) refunded.", messages.SUCCESS)
        for problem in refused:
            self.message_user(request, f"Refund refused for {problem}", messages.ERROR)

    @admin.display(description="Total", ordering="grand_total")
    def grand_total_display(self, obj: Order) -> str:
        return Money(obj.grand_total, obj.currency).format()


    def _report_tenant(self, request):
        """The restaurant a report is about: the manager's own; a superuser picks one (?tenant=)."""
        scope = tenancy.current_scope()
        tenants = tenancy.tenant_choices() if scope is tenancy.ALL_TENANTS else []
        if scope is tenancy.ALL_TENANTS:
            chosen = request.GET.get("tenant")
            tenant_id = chosen if chosen in {str(pk) for pk, _ in tenants} else (str(tenants[0][0]) if tenants else None)
        else:
            tenant_id = str(scope) if scope else None
        return (accounts.get_tenant(tenant_id) if tenant_id else None), tenants

    def sales_report(self, request):
        """Sales by day, product, category or payment method over a date range: a chart, the table, and the same
        rows as a CSV download (?format=csv), from the order snapshots only."""
        tenant, tenants = self._report_tenant(request)
        context = {**self.admin_site.each_context(request), "title": "Sales report", "tenants": tenants,
                   "tenant": tenant, "opts": self.model._meta}
        if tenant is None:
            return TemplateResponse(request, "admin/pos_core/sales_report.html", context)
        today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()
        form = SalesReportForm(request.GET or None, initial={"date_from": today - timedelta(days=29), "date_to": today,
                                                             "group_by": "day"})
        data = form.cleaned_data if form.is_bound and form.is_valid() else None
        if data is None and not form.is_bound:
            data = {key: form.initial[key] for key in ("date_from", "date_to", "group_by")}
        context["form"] = form
        if data is None:
            return TemplateResponse(request, "admin/pos_core/sales_report.html", context)
        rows = sales_report(tenant_id=tenant.id, date_from=data["date_from"], date_to=data["date_to"],
                            group_by=data["group_by"], tz=tenant.timezone, currency=tenant.currency)
        locale = (tenant.locales or ("en",))[0]
        if request.GET.get("format") == "csv":
            response = HttpResponse(sales_report_csv(rows, group_by=data["group_by"], locale=locale),
                                    content_type="text/csv; charset=utf-8")
            response["Content-Disposition"] = (f'attachment; filename="sales-{data["group_by"]}-{data["date_from"]}-'
                                               f'{data["date_to"]}.csv"')
            return response
        money = lambda amount: Money(amount, tenant.currency)  # noqa: E731
        lines = [{"label": _report_label(row, data["group_by"], locale), "quantity": row["quantity"],
                  "orders": row["orders"], "gross": money(row["gross"]), "refunds": money(row["refunds"]),
                  "net": money(row["net"]), "gross_amount": row["gross"], "refund_amount": row["refunds"],
                  "tips": money(row.get("tips", 0))}
                 for row in rows]
        peak = max([line["gross_amount"] for line in lines] + [1])
        height, step = 240, max(8, min(30, 900 // max(len(lines), 1)))
        bars = []
        for index, line in enumerate(lines):
            h = round(line["gross_amount"] * (height - 40) / peak)
            r = round(line["refund_amount"] * (height - 40) / peak)
            x = 10 + index * step
            bars.append({"x": x, "y": height - 20 - h, "h": h, "ry": height - 20 - r, "rh": r, "w": step - 4,
                         "lx": x + (step - 4) // 2, "label": str(line["label"])[-5:] if data["group_by"] == "day"
                         else str(line["label"])[:4], "title": f"{line['label']}: {line['gross']} gross, "
                                                               f"{line['refunds']} refunded"})
        default_range = not request.GET.get("date_from") and data["group_by"] == "day"
        context.update(title="Sales, last 30 days" if default_range else "Sales report", bars=bars,
                       width=max(20 + len(lines) * step, 300), height=height, chart_base=height - 20)
        query = request.GET.copy()
        query["format"] = "csv"
        context.update(data=data, lines=lines, csv_query=query.urlencode(), by_method=data["group_by"] == "payment_method",
                       totals={key: money(sum(row[key] for row in rows)) for key in ("gross", "refunds", "net")},
                       quantity=sum(row["quantity"] for row in rows))
        return TemplateResponse(request, "admin/pos_core/sales_report.html", context)

    def end_of_day_report(self, request):
        """One day's summary, as the terminals' end-of-day report: orders, totals, refunds, per payment method."""
        tenant, tenants = self._report_tenant(request)
        context = {**self.admin_site.each_context(request), "title": "End of day", "tenants": tenants,
                   "tenant": tenant, "opts": self.model._meta}
        if tenant is not None:
            today = timezone.now().astimezone(zoneinfo.ZoneInfo(tenant.timezone)).date()
            form = EndOfDayForm(request.GET or None, initial={"day": today})
            day = form.cleaned_data["day"] if form.is_bound and form.is_valid() else (None if form.is_bound else today)
            context["form"] = form
            if day is not None:
                summary = end_of_day(tenant_id=tenant.id, day=day, tz=tenant.timezone, currency=tenant.currency)
                money = lambda amount: Money(amount, tenant.currency)  # noqa: E731
                context.update(day=day, summary=summary, amounts=[
                    (label, money(summary[key])) for key, label in (
                        ("subtotal", "Subtotal"), ("service_charge", "Service charge"), ("tax", "Tax"),
                        ("rounding", "Rounding"), ("gross", "Gross"), ("refunds", "Refunds"), ("net", "Net"))],
                    tips=money(summary["tips"]),
                    methods=[{**m, "gross": money(m["gross"]), "refunds": money(m["refunds"]), "net": money(m["net"]),
                              "tips": money(m["tips"])} for m in summary["payment_methods"]])
        return TemplateResponse(request, "admin/pos_core/end_of_day.html", context)

    # --- the order as a manager reads it, and refunds from it -------------------------------------------

    def get_urls(self):
        return [path("sales-report/", self.admin_site.admin_view(self.sales_report), name="pos_core_sales_report"),
                path("end-of-day/", self.admin_site.admin_view(self.end_of_day_report), name="pos_core_end_of_day"),
                path("<uuid:order_id>/refund/", self.admin_site.admin_view(self.refund_view),
                     name="pos_core_order_refund"),
                *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """Managers see the order as they would read it (items, payment, refunds, receipt); operators may open
        the stored fields with ?technical=1."""
        if request.GET.get("technical") and is_operator(request.user):
            return super().change_view(request, object_id, form_url, extra_context)
        order = self.get_object(request, object_id)
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, object_id)
        if not self.has_view_permission(request, order):
            raise PermissionDenied
        return TemplateResponse(request, "admin/pos_core/order/view.html",
                                {**self.admin_site.each_context(request), **self._order_context(request, order)})

    def _order_context(self, request, order: Order) -> dict:
        tenant = accounts.get_tenant(order.tenant_id)
        locale = (order.locales or list(tenant.locales) or ["en"])[0]
        money = lambda amount: Money(amount, order.currency)  # noqa: E731
        items = list(order.items.all())
        receipt = build_receipt(order, restaurant=tenant.name, locales=list(order.locales or tenant.locales),
                                timezone=tenant.timezone)
        try:
            paid = payment.get_payment(tenant_id=order.tenant_id, payment_id=order.payment_id) if order.payment_id \
                else None
        except payment.PaymentNotFound:
            paid = None
        table = order.service == "table"
        # A table check is paid by its tenders: what was paid, not its total, is what can be refunded; an open
        # check has nothing to refund yet, only what is still due.
        paid_total = order.paid if table else order.grand_total
        refundable = max(order.refundable, 0) if order.status in REFUNDABLE_ORDER_STATUSES else 0
        due = max(order.grand_total - order.paid, 0) if table and order.status == "open" else 0
        tender_rows = list(order.payments.select_related("order").order_by("created_at")) if table else []
        if table and order.split_kind:
            tender_rows = list(OrderPayment.objects.select_related("order").filter(order__parent=order)
                               .order_by("created_at"))
        tenders = [{"method": p.method, "status": p.get_status_display(), "amount": money(p.amount + p.rounding),
                    "tip": money(p.tip), "captured": money(p.captured),
                    "tendered": money(p.tendered) if p.tendered is not None else None,
                    "change_due": money(p.change_due) if p.change_due is not None else None,
                    "refunded": money(p.refunded), "part": p.order.number if p.order_id != order.pk else ""}
                   for p in tender_rows]
        return {
            "title": f"Order {order.number}", "opts": self.model._meta, "order": order, "tenant": tenant,
            "placed_at": order.placed_at.astimezone(zoneinfo.ZoneInfo(tenant.timezone)),
            "items": [{"name": item_label(item, locale), "options": ", ".join(
                           _name(o.get("names", {}), locale) for o in item.options),
                       "quantity": item.quantity, "refunded_quantity": item.refunded_quantity,
                       "unit_price": money(item.unit_price + item.options_total), "line_total": money(item.line_total)}
                      for item in items],
            "totals": [(t["label"][receipt["locales"][0]], t["amount"]) for t in receipt["totals"]],
            "payment": paid, "tenders": tenders, "refunds": list(order.refunds.order_by("created_at")),
            "adjustments": list(order.adjustments.order_by("created_at")),
            "parts": [{"pk": part.pk, "number": part.number, "status": part.get_status_display(),
                       "total": money(part.grand_total)} for part in order.parts.order_by("number")],
            "paid": money(paid_total), "refundable": money(refundable), "due": money(due) if table else None,
            "tips": money(order.tips) if table else None, "flagged": order.flagged_at is not None,
            "receipt": receipt["text"],
            "can_refund": refundable > 0 and self.has_view_permission(request, order),
            "can_cancel": table and order.status == "open" and not order.parent_id and not order.paid
            and not order.pending,
            "technical_url": "?technical=1" if is_operator(request.user) else None,
        }

    def refund_view(self, request, order_id):
        """Refund items or an amount of one order, in two steps: the form, then a confirmation that says exactly what
        will be returned; then the one refund path the terminals use, under a key fixed by the form."""
        order = self.get_object(request, str(order_id))
        if order is None:
            return self._get_obj_does_not_exist_redirect(request, self.model._meta, str(order_id))
        items = list(order.items.all())
        form = OrderRefundForm(request.POST or None, items=items, initial={"key": uuid.uuid4().hex})
        context = {**self.admin_site.each_context(request), **self._order_context(request, order),
                   "title": f"Refund order {order.number}", "form": form}
        if request.method == "POST" and form.is_valid():
            plan = form.plan()
            items = [{"item_id": str(item.id), "quantity": quantity} for item, quantity in plan["items"]] or None
            try:  # the same rules as the refund itself, before the manager confirms
                amount = refund_plan(order=order, amount=plan["amount"], items=items).amount
            except DomainError as exc:
                form.add_error(None, exc.detail)
                return TemplateResponse(request, "admin/pos_core/order/refund.html", context)
            if "confirm" not in request.POST:
                context.update(confirming=True, plan=[{"name": item_label(item, (order.locales or ["en"])[0]),
                                                       "quantity": quantity} for item, quantity in plan["items"]])
                context["plan_amount"] = Money(amount, order.currency)
                return TemplateResponse(request, "admin/pos_core/order/refund.html", context)
            try:
                refund = refund_order(
                    tenant_id=order.tenant_id, order_id=order.id, idempotency_key=f"admin-{form.cleaned_data['key']}",
                    amount=plan["amount"], items=items,
                    restock=form.cleaned_data["restock"], reason=form.cleaned_data["reason"],
                    actor=f"admin:{request.user.get_username()}")
            except DomainError as exc:
                form.add_error(None, exc.detail)
            else:
                accounts.audit(tenant_id=order.tenant_id, action="order.refunded", actor=accounts.actor_of(request.user),
                               object_type="order", object_id=str(order.id),
                               before={"refunded": order.refunded},
                               after={"refunded": order.refunded + refund.amount, "refund_id": str(refund.id),
                                      "amount": refund.amount, "currency": order.currency,
                                      "restocked": refund.restocked, "reason": refund.reason})
                self.message_user(request, f"Refunded {Money(refund.amount, order.currency)} of order {order.number}.")
                return HttpResponseRedirect(reverse("admin:pos_core_order_change", args=[order.pk]))
        return TemplateResponse(request, "admin/pos_core/order/refund.html", context)

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "sales_report_link": True}
        return super().changelist_view(request, extra_context)


admin.site.register_report(title="Sales report", url_name="admin:pos_core_sales_report",
                           description="By day, product, category or payment method; chart and CSV.")
admin.site.register_report(title="End of day", url_name="admin:pos_core_end_of_day",
                           description="A day's orders, totals, refunds and payment methods.")


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


def _product_names(tenant_id, alerts) -> dict[tuple[str, str | None], str]:
    """Alerts name products as inventory names them (one batched call); an unknown product keeps its id."""
    tenant = accounts.get_tenant(tenant_id)
    products = inventory.get_products(tenant_id=tenant_id, product_ids=sorted({a.product_id for a in alerts}))
    locale = (tenant.locales or ("en",))[0]
    labels = {}
    for alert in alerts:
        product, variant = products.get(alert.product_id), alert.variant or None
        name = _name(product.names, locale) if product else alert.product_id
        if variant:
            info = product.variant(variant) if product else None
            name += f" ({_name(info.names, locale) if info else variant})"
        labels[(alert.product_id, variant)] = name
    return labels


class AlertChangeList(ChangeList):
    """Names the page's products with one call to inventory per restaurant on the page."""

    def get_results(self, request):
        super().get_results(request)
        by_tenant: dict = {}
        for alert in self.result_list:
            by_tenant.setdefault(alert.tenant_id, []).append(alert)
        for tenant_id, alerts in by_tenant.items():
            labels = _product_names(tenant_id, alerts)
            for alert in alerts:
                alert.product_names = labels[(alert.product_id, alert.variant or None)]


@admin.register(LowStockAlert)
class LowStockAlertAdmin(TenantScopedAdmin):
    list_display = ["product", "level", "current_level", "threshold", "status", "opened_at", "closed_at",
                    "resolution"]
    list_filter = ["status", ("opened_at", admin.DateFieldListFilter)]
    search_fields = ["product_id", "variant"]
    actions = ["close_alerts"]
    readonly_fields = ["product", "product_id", "variant", "level", "current_level", "threshold", "status",
                       "opened_at", "closed_at", "closed_by", "resolution"]
    fields = readonly_fields

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def get_changelist(self, request, **kwargs):
        return AlertChangeList

    @admin.display(description="Product")
    def product(self, obj) -> str:
        names = getattr(obj, "product_names", None)
        if names is None:  # a single alert's page
            names = _product_names(obj.tenant_id, [obj]).get((obj.product_id, obj.variant or None), obj.product_id)
        return names

    @admin.action(description="Close the selected alerts")
    def close_alerts(self, request, queryset) -> None:
        count = 0
        for alert in queryset.filter(status=AlertStatus.OPEN):
            alert_close(tenant_id=alert.tenant_id, alert_id=alert.id, actor=f"admin:{request.user.username}")
            count += 1
        self.message_user(request, f"Closed {count} alert(s).", messages.SUCCESS)


class StationForm(forms.ModelForm):
    locales: list[str] = []

    class Meta:
        model = KitchenStation
        fields = ["key", "is_default", "position"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for code in self.locales:
            self.initial.setdefault(f"name_{code}", (self.instance.names or {}).get(code, ""))
        self.initial.setdefault("categories", list(self.instance.category_ids or []))

    def clean(self):
        data = super().clean()
        self.instance.names = {code: data.get(f"name_{code}", "").strip() for code in self.locales
                               if data.get(f"name_{code}", "").strip()}
        self.instance.category_ids = list(data.get("categories") or [])
        return data


@admin.register(KitchenStation)
class KitchenStationAdmin(TenantScopedAdmin):
    """Preparation stations: which catalog categories each one prepares (the kitchen display filters by key).
    Names per language and the categories are plain fields; categories are chosen from the catalog by name."""

    list_display = ["key", "name", "categories", "is_default", "position"]

    def _tenant(self, request, obj=None):
        scope = tenancy.current_scope()
        tenant_id = obj.tenant_id if obj is not None else (scope if isinstance(scope, uuid.UUID) else None)
        return accounts.get_tenant(tenant_id) if tenant_id else None

    def get_form(self, request, obj=None, change=False, **kwargs):
        tenant = self._tenant(request, obj)
        locales = list(tenant.locales) if tenant else ["en", "my"]
        categories = inventory.list_categories(tenant_id=tenant.id) if tenant else []
        fields = {f"name_{code}": forms.CharField(label=f"Name ({code})", max_length=80) for code in locales}
        fields["categories"] = forms.MultipleChoiceField(
            required=False, widget=forms.CheckboxSelectMultiple, help_text="Items of these categories are sent here.",
            choices=[(c.id, _name(c.names, locales[0]) or c.id) for c in categories])
        form = type("KitchenStationForm", (StationForm,), {**fields, "locales": locales})
        kwargs["form"] = form
        kwargs["fields"] = ["key", *fields, "is_default", "position"]
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        tenant = self._tenant(request, obj)
        locales = list(tenant.locales) if tenant else ["en", "my"]
        return ["key", *[f"name_{code}" for code in locales], "categories", "is_default", "position"]

    @admin.display(description="Name")
    def name(self, obj) -> str:
        return " / ".join(v for v in obj.names.values() if v)

    @admin.display(description="Categories")
    def categories(self, obj) -> str:
        return ", ".join(obj.category_ids) or "—"


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
