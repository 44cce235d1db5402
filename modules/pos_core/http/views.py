"""Terminal API of pos_core: orders (placed through the saga), refunds, receipts, reports, alerts, stock."""

from __future__ import annotations

import re

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.accounts import api as accounts
from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination
from pos.api.permissions import approved_by, require

from .. import receipts, selectors, services
from ..refunds import refund_order
from ..saga import place_order
from ..table_service.flows import open_check
from .serializers import (
    OrderIn,
    OrderOut,
    PosCoreAlertFilters,
    PosCoreAlertOut,
    PosCoreEndOfDayOut,
    PosCoreOrderFilters,
    PosCoreReceiptOut,
    PosCoreRefundIn,
    PosCoreRefundOut,
    PosCoreSalesFilters,
    PosCoreSalesReportOut,
    PosCoreStockLevelOut,
)

PROBLEM = OpenApiResponse(description="RFC 9457 problem (application/problem+json).")


def _tenant(request):
    return accounts.get_tenant(request.user.tenant_id)


class OrderListView(APIView):
    permission_actions = {"GET": "orders.read", "POST": "orders.place"}
    pagination_class = Pagination

    @extend_schema(parameters=[PosCoreOrderFilters], responses=OrderOut(many=True),
                   summary="Orders, newest first (filter by date range, status, table; paginated)")
    def get(self, request):
        filters = PosCoreOrderFilters(data=request.query_params.dict())  # "" is a value, not absent
        filters.is_valid(raise_exception=True)
        tenant = _tenant(request)
        queryset = selectors.order_list(tenant_id=tenant.id, tz=tenant.timezone, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([OrderOut().to_representation(order) for order in page])

    @extend_schema(request=OrderIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: OrderOut, 400: PROBLEM, 402: PROBLEM, 409: PROBLEM, 503: PROBLEM},
                   summary="Place a counter order (reserve stock, take the payment, record the order), or open a "
                           "table check (`service: table`, a `table_id`, no payment)")
    @idempotent
    def post(self, request):
        body = OrderIn(data=request.data)
        body.is_valid(raise_exception=True)
        terminal = getattr(request.user, "terminal", None)
        data = body.validated_data
        flow = open_check if data["service"] == "table" else place_order
        order = flow(tenant_id=request.user.tenant_id, idempotency_key=request.idempotency_key, data=data,
                     terminal_id=str(getattr(terminal, "id", "")))
        return Response(OrderOut().to_representation(order), status=201)


class OrderDetailView(APIView):
    permission_actions = {"GET": "orders.read"}

    @extend_schema(responses={200: OrderOut, 404: PROBLEM}, summary="One order with its item snapshots")
    def get(self, request, order_id):
        order = selectors.order_get(tenant_id=request.user.tenant_id, order_id=order_id)
        return Response(OrderOut().to_representation(order))


class OrderRefundView(APIView):
    permission_actions = {"POST": "refunds.create"}

    @extend_schema(request=PosCoreRefundIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: PosCoreRefundOut, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Refund all or part of an order (through payment; restock optional)")
    @idempotent
    def post(self, request, order_id):
        body = PosCoreRefundIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        items = [{"item_id": str(i["item_id"]), "quantity": i["quantity"]} for i in data.get("items", [])]
        _check_refund_limit(request, order_id=order_id, amount=data.get("amount"), items=items or None)
        terminal = getattr(request.user, "terminal", None)
        refund = refund_order(tenant_id=request.user.tenant_id, order_id=order_id,
                              idempotency_key=request.idempotency_key, amount=data.get("amount"), items=items or None,
                              restock=data["restock"], reason=data["reason"],
                              actor=f"terminal:{getattr(terminal, 'name', '')}", expected_version=data.get("version"),
                              terminal_id=str(getattr(terminal, "id", "")))
        refund = selectors.refund_get(tenant_id=request.user.tenant_id, refund_id=refund.id)
        accounts.audit(tenant_id=request.user.tenant_id, action="order.refunded",
                       actor=accounts.actor_of(request.user, approved_by=approved_by(request)), object_type="order",
                       object_id=str(refund.order_id),
                       before={"refunded": refund.order.refunded - refund.amount},
                       after={"refunded": refund.order.refunded, "refund_id": str(refund.id), "amount": refund.amount,
                              "currency": refund.currency, "restocked": refund.restocked, "reason": refund.reason})
        return Response(PosCoreRefundOut().to_representation(refund), status=201)


def _check_refund_limit(request, *, order_id, amount, items) -> None:
    """Refunds above the restaurant's limit need a manager (the permission matrix's `refunds.over_limit`)."""
    tenant = _tenant(request)
    order = selectors.order_get(tenant_id=tenant.id, order_id=order_id)
    planned = services.refund_plan(order=order, amount=amount, items=items).amount
    if planned > tenant.refund_approval_limit:
        require(request, "refunds.over_limit")


class OrderReceiptView(APIView):
    permission_actions = {"GET": "orders.read"}

    @extend_schema(responses={200: PosCoreReceiptOut, 404: PROBLEM}, summary="The receipt, in the restaurant's locales")
    def get(self, request, order_id):
        tenant = _tenant(request)
        order = selectors.order_get(tenant_id=tenant.id, order_id=order_id)
        return Response(receipts.build_receipt(order, restaurant=tenant.name, locales=list(tenant.locales),
                                               timezone=tenant.timezone))


def _wants_csv(request) -> bool:
    return getattr(request.accepted_renderer, "format", "") == "csv"


class CSVRenderer(BaseRenderer):
    """Lets `Accept: text/csv` and `?format=csv` through content negotiation; the view writes the CSV itself."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, (bytes, str)):
            return data
        # An error answered to a CSV request is still a problem+json body (its content type says so).
        return JSONRenderer().render(data)


class SalesReportView(APIView):
    permission_actions = {"GET": "reports.read"}
    renderer_classes = [JSONRenderer, CSVRenderer]

    @extend_schema(parameters=[
        OpenApiParameter("from", OpenApiTypes.DATE, required=True,
                         description="First day (YYYY-MM-DD, tenant's time zone)."),
        OpenApiParameter("to", OpenApiTypes.DATE, required=True, description="Last day, inclusive (at most 366 days)."),
        OpenApiParameter("group_by", str, enum=["day", "product", "category", "payment_method"]),
        OpenApiParameter("format", str, enum=["json", "csv"], description="Or send Accept: text/csv."),
    ], responses={200: PosCoreSalesReportOut, 400: PROBLEM},
        summary="Sales from order snapshots: quantity, gross, refunds, net per group (JSON or CSV)")
    def get(self, request):
        params = {"date_from": request.query_params.get("from"), "date_to": request.query_params.get("to"),
                  "group_by": request.query_params.get("group_by", "day")}
        filters = PosCoreSalesFilters(data=params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        tenant = _tenant(request)
        rows = selectors.sales_report(tenant_id=tenant.id, date_from=data["date_from"], date_to=data["date_to"],
                                      group_by=data["group_by"], tz=tenant.timezone, currency=tenant.currency)
        keys = ("quantity", "gross", "refunds", "net") + (("tips",) if data["group_by"] == "payment_method" else ())
        totals = {key: sum(row[key] for row in rows) for key in keys}
        if _wants_csv(request):
            return _csv(rows, data["group_by"], tenant, data)
        return Response({"date_from": data["date_from"], "date_to": data["date_to"], "group_by": data["group_by"],
                         "currency": tenant.currency, "rows": rows, "totals": totals})



def _csv(rows, group_by, tenant, data) -> HttpResponse:
    locale = tenant.locales[0] if tenant.locales else "en"
    response = HttpResponse(selectors.sales_report_csv(rows, group_by=group_by, locale=locale),
                            content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (f'attachment; filename="sales-{group_by}-{data["date_from"]}-'
                                       f'{data["date_to"]}.csv"')
    return response


class EndOfDayView(APIView):
    permission_actions = {"GET": "reports.read"}

    @extend_schema(parameters=[OpenApiParameter("date", OpenApiTypes.DATE, required=False,
                                                description="Default: today.")],
                   responses={200: PosCoreEndOfDayOut, 400: PROBLEM}, summary="End-of-day summary of the restaurant")
    def get(self, request):
        import zoneinfo

        from django.utils import timezone
        from rest_framework import serializers

        tenant = _tenant(request)
        raw = request.query_params.get("date")
        field = serializers.DateField()
        try:
            day = field.to_internal_value(raw) if raw is not None else timezone.now().astimezone(
                zoneinfo.ZoneInfo(tenant.timezone)).date()
        except serializers.ValidationError as exc:
            raise serializers.ValidationError({"date": exc.detail}) from None
        return Response(selectors.end_of_day(tenant_id=tenant.id, day=day, tz=tenant.timezone,
                                             currency=tenant.currency))


class AlertListView(APIView):
    permission_actions = {"GET": "alerts.read"}
    pagination_class = Pagination

    @extend_schema(parameters=[PosCoreAlertFilters], responses=PosCoreAlertOut(many=True),
                   summary="Low-stock alerts, newest first (filter open/closed; paginated)")
    def get(self, request):
        filters = PosCoreAlertFilters(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        queryset = selectors.alert_list(tenant_id=request.user.tenant_id, status=filters.validated_data.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(PosCoreAlertOut(page, many=True).data)


class AlertCloseView(APIView):
    permission_actions = {"POST": "alerts.close"}

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER], responses={200: PosCoreAlertOut, 404: PROBLEM},
                   summary="Close (acknowledge) a low-stock alert")
    @idempotent
    def post(self, request, alert_id):
        terminal = getattr(request.user, "terminal", None)
        alert = services.alert_close(tenant_id=request.user.tenant_id, alert_id=alert_id,
                                     actor=f"terminal:{getattr(terminal, 'name', '')}")
        return Response(PosCoreAlertOut(alert).data)


# product id (inventory's id rule), optionally ":variant" (inventory's key rule), comma-separated
STOCK_ITEMS = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(:[a-z0-9][a-z0-9_-]{0,63})?"
                         r"(,[A-Za-z0-9][A-Za-z0-9_.-]{0,63}(:[a-z0-9][a-z0-9_-]{0,63})?)*$")


class StockLevelsView(APIView):
    permission_actions = {"GET": "stock.read"}

    @extend_schema(parameters=[OpenApiParameter("items", OpenApiTypes.STR, required=True, pattern=STOCK_ITEMS.pattern,
                                                description="Comma-separated product ids, `product:variant` for a "
                                                            "variant (at most 200).")],
                   responses={200: PosCoreStockLevelOut(many=True), 400: PROBLEM},
                   summary="Stock levels for the catalog, from the POS stock cache (falls back to inventory)")
    def get(self, request):
        from rest_framework import serializers

        text = request.query_params.get("items", "")
        if not STOCK_ITEMS.match(text):
            raise serializers.ValidationError({"items": "Product ids (and :variant keys) separated by commas."})
        raw = text.split(",")
        if len(raw) > 200:
            raise serializers.ValidationError({"items": "Name between 1 and 200 items."})
        items = [(p, v or None) for p, _, v in (part.partition(":") for part in raw)]
        levels = selectors.stock_levels(tenant_id=request.user.tenant_id, items=items)
        return Response(PosCoreStockLevelOut([levels[item] for item in items if item in levels], many=True).data)
