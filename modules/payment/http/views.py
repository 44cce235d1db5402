"""Terminal API for payments: read payments, list accepted methods, refund. Views are thin."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.accounts import api as accounts
from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination
from pos.api.permissions import approved_by, require
from pos.money import Money

from ..dto import payment_info, shift_info
from ..errors import ShiftNotFound
from ..selectors import (
    accepted_methods,
    current_shift,
    drawer_list,
    payment_get,
    payment_list,
    payment_refunds,
    shift_get,
    shift_list,
    shift_movements,
    shift_report,
)
from ..services import payment_refund, shift_cash_movement, shift_close, shift_open
from .serializers import (
    CashMovementIn,
    CashMovementOut,
    DrawerOut,
    PaymentDetailOut,
    PaymentListFilters,
    PaymentMethodsOut,
    PaymentOut,
    PaymentRefundIn,
    PaymentRefundOut,
    ShiftCloseIn,
    ShiftListFilters,
    ShiftOpenIn,
    ShiftOut,
    ShiftReportOut,
)


class PaymentListView(APIView):
    permission_actions = {"GET": "payments.read"}
    pagination_class = Pagination

    @extend_schema(parameters=[PaymentListFilters], responses=PaymentOut(many=True),
                   summary="Payments of this restaurant, newest first (paginated, filterable)")
    def get(self, request):
        filters = PaymentListFilters(data=request.query_params.dict())  # "" is a value, not absent
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(payment_list(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(PaymentOut([payment_info(p) for p in page], many=True).data)


class PaymentMethodsView(APIView):
    permission_actions = {"GET": "payments.methods"}

    @extend_schema(responses=PaymentMethodsOut, summary="Payment methods this restaurant accepts")
    def get(self, request):
        tenant = accounts.get_tenant(request.user.tenant_id)
        return Response(PaymentMethodsOut({"methods": accepted_methods(tenant_payment_methods=tenant.payment_methods),
                                    "currency": tenant.currency,
                                    "cash_rounding_unit": tenant.cash_rounding_unit}).data)


class PaymentDetailView(APIView):
    permission_actions = {"GET": "payments.read"}

    @extend_schema(responses=PaymentDetailOut, summary="One payment with its refunds")
    def get(self, request, payment_id):
        info = payment_get(tenant_id=request.user.tenant_id, payment_id=payment_id)
        refunds = payment_refunds(tenant_id=request.user.tenant_id, payment_id=payment_id)
        fields = {field.name: getattr(info, field.name) for field in dataclasses.fields(info)}
        return Response(PaymentDetailOut({**fields, "refunds": refunds}).data)


class PaymentRefundsView(APIView):
    permission_actions = {"GET": "payments.read", "POST": "refunds.create"}

    @extend_schema(responses=PaymentRefundOut(many=True), summary="Refunds of one payment, oldest first")
    def get(self, request, payment_id):
        payment_get(tenant_id=request.user.tenant_id, payment_id=payment_id)  # 404 for another tenant's payment
        return Response(PaymentRefundOut(payment_refunds(tenant_id=request.user.tenant_id, payment_id=payment_id),
                                  many=True).data)

    @extend_schema(request=PaymentRefundIn, responses={201: PaymentRefundOut}, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Refund all or part of a payment (Idempotency-Key required)")
    @idempotent
    def post(self, request, payment_id):
        data = PaymentRefundIn(data=request.data)
        data.is_valid(raise_exception=True)
        tenant_id = request.user.tenant_id
        payment = payment_get(tenant_id=tenant_id, payment_id=payment_id)
        amount = Money(data.validated_data["amount"], data.validated_data.get("currency") or payment.amount.currency)
        if amount.amount > accounts.get_tenant(tenant_id).refund_approval_limit:
            require(request, "refunds.over_limit")
        refund = payment_refund(tenant_id=tenant_id, payment_id=payment_id, amount=amount,
                                idempotency_key=request.idempotency_key, reason=data.validated_data["reason"],
                                actor=f"terminal:{request.user.terminal.name}", terminal_id=str(request.user.terminal.id))
        accounts.audit(tenant_id=tenant_id, action="payment.refunded",
                       actor=accounts.actor_of(request.user, approved_by=approved_by(request)), object_type="payment",
                       object_id=str(payment_id), before={"refunded": payment.refunded.amount},
                       after={"refund_id": str(refund.id), "amount": refund.amount.amount,
                              "currency": refund.amount.currency, "status": refund.status,
                              "reason": data.validated_data["reason"]})
        return Response(PaymentRefundOut(refund).data, status=201)


# --- cash drawers and shifts ---------------------------------------------------------------------------------

PROBLEM = OpenApiResponse(description="RFC 9457 problem (application/problem+json).")


def _who(request) -> tuple[str, str, str, bool]:
    """actor, terminal id, terminal name, and whether the terminal may act on any drawer (managers)."""
    terminal = request.user.terminal
    return f"terminal:{terminal.name}", str(terminal.id), terminal.name, request.user.role == "manager"


def _money(request, amount: int, currency: str | None) -> Money:
    return Money(amount, currency or accounts.get_tenant(request.user.tenant_id).currency)


class ShiftListView(APIView):
    permission_actions = {"GET": "shifts.read", "POST": "shifts.manage"}
    pagination_class = Pagination

    @extend_schema(parameters=[ShiftListFilters], responses=ShiftOut(many=True),
                   summary="Shifts of this restaurant, newest first (paginated; filter by status, drawer, date, "
                           "over/short)")
    def get(self, request):
        filters = ShiftListFilters(data=request.query_params.dict())  # "" is a value, not absent
        filters.is_valid(raise_exception=True)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(shift_list(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(ShiftOut([shift_info(s) for s in page], many=True).data)

    @extend_schema(request=ShiftOpenIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: ShiftOut, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Open a shift on this terminal's cash drawer with an opening float (Idempotency-Key)")
    @idempotent
    def post(self, request):
        body = ShiftOpenIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        actor, terminal_id, terminal_name, any_drawer = _who(request)
        shift = shift_open(tenant_id=request.user.tenant_id,
                           opening_float=_money(request, data["opening_float"], data.get("currency")),
                           idempotency_key=request.idempotency_key, actor=actor, terminal_id=terminal_id,
                           terminal_name=terminal_name, drawer_id=data.get("drawer_id"), any_drawer=any_drawer,
                           note=data.get("note", ""))
        return Response(ShiftOut(shift).data, status=201)


class CurrentShiftView(APIView):
    permission_actions = {"GET": "shifts.read"}

    @extend_schema(responses={200: ShiftOut, 404: PROBLEM}, summary="The open shift of this terminal's drawer")
    def get(self, request):
        shift = current_shift(tenant_id=request.user.tenant_id, terminal_id=str(request.user.terminal.id))
        if shift is None:
            raise ShiftNotFound("This terminal's drawer has no open shift.", terminal_id=str(request.user.terminal.id))
        return Response(ShiftOut(shift).data)


class ShiftDetailView(APIView):
    permission_actions = {"GET": "shifts.read"}

    @extend_schema(responses={200: ShiftOut, 404: PROBLEM}, summary="One shift")
    def get(self, request, shift_id):
        return Response(ShiftOut(shift_get(tenant_id=request.user.tenant_id, shift_id=shift_id)).data)


class ShiftReportView(APIView):
    permission_actions = {"GET": "shifts.report"}

    @extend_schema(responses={200: ShiftReportOut, 404: PROBLEM},
                   summary="X report of an open shift (so far) or Z report of a closed one (managers)")
    def get(self, request, shift_id):
        return Response(ShiftReportOut(shift_report(tenant_id=request.user.tenant_id, shift_id=shift_id)).data)


class ShiftCashMovementsView(APIView):
    permission_actions = {"GET": "shifts.read", "POST": "shifts.manage"}

    @extend_schema(responses={200: CashMovementOut(many=True), 404: PROBLEM},
                   summary="Cash movements of a shift, oldest first")
    def get(self, request, shift_id):
        return Response(CashMovementOut(shift_movements(tenant_id=request.user.tenant_id, shift_id=shift_id),
                                        many=True).data)

    @extend_schema(request=CashMovementIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={201: CashMovementOut, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Record cash put in or taken out of the drawer, with a reason (Idempotency-Key)")
    @idempotent
    def post(self, request, shift_id):
        body = CashMovementIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        actor, terminal_id, _, any_drawer = _who(request)
        movement = shift_cash_movement(
            tenant_id=request.user.tenant_id, shift_id=shift_id, kind=data["kind"],
            amount=_money(request, data["amount"], data.get("currency")), reason=data["reason"],
            idempotency_key=request.idempotency_key, actor=actor, terminal_id=terminal_id, any_drawer=any_drawer)
        return Response(CashMovementOut(movement).data, status=201)


class ShiftCloseView(APIView):
    permission_actions = {"POST": "shifts.manage"}

    @extend_schema(request=ShiftCloseIn, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   responses={200: ShiftReportOut, 400: PROBLEM, 403: PROBLEM, 404: PROBLEM, 409: PROBLEM},
                   summary="Close a shift with the amounts counted per method; answers the Z report (Idempotency-Key)")
    @idempotent
    def post(self, request, shift_id):
        body = ShiftCloseIn(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        currency = accounts.get_tenant(request.user.tenant_id).currency
        actor, terminal_id, _, any_drawer = _who(request)
        report = shift_close(tenant_id=request.user.tenant_id, shift_id=shift_id,
                             counted={method: Money(amount, currency) for method, amount in data["counted"].items()},
                             idempotency_key=request.idempotency_key, actor=actor, terminal_id=terminal_id,
                             any_drawer=any_drawer, note=data.get("note", ""))
        return Response(ShiftReportOut(report).data)


class DrawerListView(APIView):
    permission_actions = {"GET": "shifts.read"}

    @extend_schema(responses=DrawerOut(many=True), summary="Cash drawers with their terminals and open shift")
    def get(self, request):
        return Response(DrawerOut(drawer_list(tenant_id=request.user.tenant_id), many=True).data)
