"""Terminal API for payments: read payments, list accepted methods, refund. Views are thin."""

from __future__ import annotations

import dataclasses

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.accounts import api as accounts
from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination
from pos.api.permissions import IsTenantTerminal, roles
from pos.money import Money

from ..dto import payment_info
from ..selectors import accepted_methods, payment_get, payment_list, payment_refunds
from ..services import payment_refund
from .serializers import (
    PaymentDetailOut,
    PaymentListFilters,
    PaymentMethodsOut,
    PaymentOut,
    PaymentRefundIn,
    PaymentRefundOut,
)


class PaymentListView(APIView):
    @extend_schema(parameters=[PaymentListFilters], responses=PaymentOut(many=True),
                   summary="Payments of this restaurant, newest first (paginated, filterable)")
    def get(self, request):
        filters = PaymentListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = Pagination()
        page = paginator.paginate_queryset(payment_list(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(PaymentOut([payment_info(p) for p in page], many=True).data)


class PaymentMethodsView(APIView):
    @extend_schema(responses=PaymentMethodsOut, summary="Payment methods this restaurant accepts")
    def get(self, request):
        tenant = accounts.get_tenant(request.user.tenant_id)
        return Response(PaymentMethodsOut({"methods": accepted_methods(tenant_payment_methods=tenant.payment_methods),
                                    "currency": tenant.currency,
                                    "cash_rounding_unit": tenant.cash_rounding_unit}).data)


class PaymentDetailView(APIView):
    @extend_schema(responses=PaymentDetailOut, summary="One payment with its refunds")
    def get(self, request, payment_id):
        info = payment_get(tenant_id=request.user.tenant_id, payment_id=payment_id)
        refunds = payment_refunds(tenant_id=request.user.tenant_id, payment_id=payment_id)
        fields = {field.name: getattr(info, field.name) for field in dataclasses.fields(info)}
        return Response(PaymentDetailOut({**fields, "refunds": refunds}).data)


class PaymentRefundsView(APIView):
    def get_permissions(self):
        if self.request.method == "POST":
            return [roles("manager", "cashier")()]
        return [IsTenantTerminal()]

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
        refund = payment_refund(tenant_id=tenant_id, payment_id=payment_id, amount=amount,
                                idempotency_key=request.idempotency_key, reason=data.validated_data["reason"],
                                actor=f"terminal:{request.user.terminal.name}")
        return Response(PaymentRefundOut(refund).data, status=201)
