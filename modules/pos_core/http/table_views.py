"""Terminal API of table service: rounds, voids, comps and discounts, the bill, splits, payments, and the
kitchen display. Thin: an input serializer, a call into table_service, an output serializer."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.accounts import api as accounts
from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination
from pos.api.permissions import approved_by, role_with_approval

from .. import selectors
from ..table_service import flows, store
from ..table_service.bill import build_bill
from .serializers import OrderOut, money
from .table_serializers import (
    KitchenTicketFilters,
    KitchenTicketOut,
    TableBillOut,
    TableCompIn,
    TableDiscountIn,
    TablePaymentIn,
    TablePaymentOut,
    TableRoundIn,
    TableSplitIn,
    TableVoidIn,
)

PROBLEM = OpenApiResponse(description="RFC 9457 problem (application/problem+json).")


def _actor(request, action: str | None = None) -> tuple[str, str]:
    """Who acts, and with which role: for a void, comp or discount a manager's approval on another terminal
    (X-Manager-Approval) counts as a manager's terminal where the restaurant requires one."""
    terminal = getattr(request.user, "terminal", None)
    role = role_with_approval(request, action) if action else getattr(request.user, "role", "") or ""
    return f"terminal:{getattr(terminal, 'name', '')}", role


def _terminal_id(request) -> str:
    return str(getattr(getattr(request.user, "terminal", None), "id", ""))


def _order_out(order) -> dict:
    return OrderOut().to_representation(order)


def _audit(request, action: str, order_id: str, before, order, **details) -> None:
    """Voids, comps and discounts go to the audit log, with the check's total before and after."""
    accounts.audit(tenant_id=request.user.tenant_id, action=action,
                   actor=accounts.actor_of(request.user, approved_by=approved_by(request)), object_type="order",
                   object_id=str(order.id), before={"grand_total": before.grand_total},
                   after={"grand_total": order.grand_total, **details})


class OrderItemsView(APIView):
    permission_actions = {"POST": "orders.place"}

    @extend_schema(request=TableRoundIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: OrderOut, 400: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Send a round to an open check (priced now, stock reserved, kitchen tickets)")
    @idempotent
    def post(self, request, order_id):
        body = TableRoundIn(data=request.data)
        body.is_valid(raise_exception=True)
        order = flows.add_round(tenant_id=request.user.tenant_id, order_id=order_id,
                                idempotency_key=request.idempotency_key, data=body.validated_data,
                                terminal_id=_terminal_id(request))
        return Response(_order_out(order), status=201)


class OrderItemVoidView(APIView):
    permission_actions = {"POST": "orders.void"}

    @extend_schema(request=TableVoidIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: OrderOut, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Void an item before payment (made food written off, else back to stock; void ticket)")
    @idempotent
    def post(self, request, order_id, item_id):
        body = TableVoidIn(data=request.data)
        body.is_valid(raise_exception=True)
        actor, role = _actor(request, "orders.void")
        before = selectors.order_get(tenant_id=request.user.tenant_id, order_id=order_id)
        order = flows.void_item(tenant_id=request.user.tenant_id, order_id=order_id, item_id=item_id,
                                idempotency_key=request.idempotency_key, data=body.validated_data, actor=actor,
                                role=role)
        _audit(request, "order.item_voided", order_id, before, order, item_id=str(item_id),
               quantity=body.validated_data.get("quantity"), made=body.validated_data["made"],
               reason=body.validated_data["reason"])
        return Response(_order_out(order))


class OrderCompView(APIView):
    permission_actions = {"POST": "orders.comp"}

    @extend_schema(request=TableCompIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: OrderOut, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Comp an item (on the house) with a reason; a manager where the restaurant says so")
    @idempotent
    def post(self, request, order_id):
        body = TableCompIn(data=request.data)
        body.is_valid(raise_exception=True)
        actor, role = _actor(request, "orders.comp")
        before = selectors.order_get(tenant_id=request.user.tenant_id, order_id=order_id)
        order = flows.comp_item(tenant_id=request.user.tenant_id, order_id=order_id,
                                idempotency_key=request.idempotency_key, data=body.validated_data, actor=actor,
                                role=role)
        _audit(request, "order.item_comped", order_id, before, order, item_id=str(body.validated_data["item_id"]),
               quantity=body.validated_data.get("quantity"), reason=body.validated_data["reason"])
        return Response(_order_out(order))


class OrderDiscountView(APIView):
    permission_actions = {"POST": "orders.comp"}

    @extend_schema(request=TableDiscountIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: OrderOut, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Discount the check (amount or percent) with a reason; a manager where the restaurant "
                           "says so")
    @idempotent
    def post(self, request, order_id):
        body = TableDiscountIn(data=request.data)
        body.is_valid(raise_exception=True)
        actor, role = _actor(request, "orders.comp")
        before = selectors.order_get(tenant_id=request.user.tenant_id, order_id=order_id)
        order = flows.discount_check(tenant_id=request.user.tenant_id, order_id=order_id,
                                     idempotency_key=request.idempotency_key, data=body.validated_data, actor=actor,
                                     role=role)
        percent = body.validated_data.get("percent")
        _audit(request, "order.discounted", order_id, before, order, amount=body.validated_data.get("amount"),
               percent=str(percent) if percent is not None else None, reason=body.validated_data["reason"])
        return Response(_order_out(order))


class OrderBillView(APIView):
    permission_actions = {"GET": "orders.read"}

    @extend_schema(responses={200: TableBillOut, 404: PROBLEM},
                   summary="The pre-bill in every locale: items, comps, discounts, totals, paid, due, parts")
    def get(self, request, order_id):
        tenant = accounts.get_tenant(request.user.tenant_id)
        order = selectors.order_get(tenant_id=tenant.id, order_id=order_id)
        return Response(build_bill(order, restaurant=tenant.name, locales=list(tenant.locales),
                                   timezone=tenant.timezone))


class OrderSplitView(APIView):
    permission_actions = {"POST": "orders.pay"}

    @extend_schema(request=TableSplitIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: OrderOut, 404: PROBLEM, 409: PROBLEM, 422: PROBLEM},
                   summary="Split an unpaid check by items, by seats or into N equal parts (child orders)")
    @idempotent
    def post(self, request, order_id):
        body = TableSplitIn(data=request.data)
        body.is_valid(raise_exception=True)
        order = flows.split_check(tenant_id=request.user.tenant_id, order_id=order_id, data=body.validated_data)
        return Response(_order_out(order), status=201)


class OrderPaymentsView(APIView):
    permission_actions = {"POST": "orders.pay"}

    @extend_schema(request=TablePaymentIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: TablePaymentOut, 400: PROBLEM, 402: PROBLEM, 404: PROBLEM, 409: PROBLEM,
                              503: PROBLEM},
                   summary="Pay (part of) a check: any number of tenders, an optional tip; completes when paid")
    @idempotent
    def post(self, request, order_id):
        body = TablePaymentIn(data=request.data)
        body.is_valid(raise_exception=True)
        row = flows.pay(tenant_id=request.user.tenant_id, order_id=order_id, idempotency_key=request.idempotency_key,
                        data=body.validated_data, terminal_id=_terminal_id(request))
        order = selectors.order_get(tenant_id=request.user.tenant_id, order_id=row.order_id)
        c = row.currency
        return Response({"id": str(row.id), "status": row.status, "method": row.method,
                         "amount": money(row.amount + row.rounding, c), "tip": money(row.tip, c),
                         "captured": money(row.captured, c), "tendered": money(row.tendered, c),
                         "change_due": money(row.change_due, c), "payment_id": row.payment_id,
                         "order": _order_out(order)}, status=201)


class KitchenTicketListView(APIView):
    permission_actions = {"GET": "kitchen.read"}
    pagination_class = Pagination

    @extend_schema(parameters=[KitchenTicketFilters], responses=KitchenTicketOut(many=True),
                   summary="Kitchen display: tickets oldest first, by station and status (paginated)")
    def get(self, request):
        filters = KitchenTicketFilters(data=request.query_params.dict())  # "" is a value, not absent
        filters.is_valid(raise_exception=True)
        queryset = selectors.ticket_list(tenant_id=request.user.tenant_id, **filters.validated_data)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([KitchenTicketOut().to_representation(t) for t in page])


class KitchenTicketBumpView(APIView):
    permission_actions = {"POST": "kitchen.bump"}

    @extend_schema(request=None, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: KitchenTicketOut, 404: PROBLEM}, summary="Bump a ticket (the station is done)")
    @idempotent
    def post(self, request, ticket_id):
        actor, _ = _actor(request)
        ticket = store.ticket_bump(tenant_id=request.user.tenant_id, ticket_id=ticket_id, actor=actor)
        return Response(KitchenTicketOut().to_representation(ticket))
