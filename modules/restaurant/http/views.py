"""Terminal API of the restaurant module: menus served now, tables and their tabs. Views are thin: they
parse, call a service or selector, and render; errors become problem responses at the edge."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination

from .. import selectors, services
from .serializers import MenuOut, MergeIn, MoveIn, TableFilterIn, TableOut


class MenuListView(APIView):
    @extend_schema(responses=MenuOut(many=True), summary="Menus served now (tenant's time), with prices and stock")
    def get(self, request):
        menus = selectors.menus_available(tenant_id=request.user.tenant_id)
        paginator = Pagination()
        page = paginator.paginate_queryset(menus, request, view=self)
        return paginator.get_paginated_response(MenuOut(page, many=True).data)


class MenuDetailView(APIView):
    @extend_schema(responses=MenuOut, summary="One active menu with prices and stock (available_now says if served)")
    def get(self, request, menu_id: str):
        return Response(MenuOut(selectors.menu_view(tenant_id=request.user.tenant_id, menu_id=menu_id)).data)


class TableListView(APIView):
    @extend_schema(parameters=[TableFilterIn], responses=TableOut(many=True), summary="Tables, by area and status")
    def get(self, request):
        filters = TableFilterIn(data=request.query_params)
        filters.is_valid(raise_exception=True)
        tables = selectors.table_list(tenant_id=request.user.tenant_id, area=filters.validated_data.get("area") or None,
                                       status=filters.validated_data.get("status"))
        paginator = Pagination()
        page = paginator.paginate_queryset(tables, request, view=self)
        return paginator.get_paginated_response(TableOut(page, many=True).data)


class TableDetailView(APIView):
    @extend_schema(responses=TableOut, summary="One table with its open tab's orders")
    def get(self, request, table_id: str):
        return Response(TableOut(selectors.table_get(tenant_id=request.user.tenant_id, table_id=table_id)).data)


class TableOpenView(APIView):
    @extend_schema(request=None, responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Seat guests: open a tab on a free table (409 if it is not free)")
    @idempotent
    def post(self, request, table_id: str):
        return Response(TableOut(services.table_open(tenant_id=request.user.tenant_id, table_id=table_id)).data)


class TableCloseView(APIView):
    @extend_schema(request=None, responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Close the table's tab: its orders complete, the table needs cleaning")
    @idempotent
    def post(self, request, table_id: str):
        return Response(TableOut(services.table_close(tenant_id=request.user.tenant_id, table_id=table_id)).data)


class TableCleanView(APIView):
    @extend_schema(request=None, responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="The table was cleaned: it is free again")
    @idempotent
    def post(self, request, table_id: str):
        return Response(TableOut(services.table_mark_free(tenant_id=request.user.tenant_id, table_id=table_id)).data)


class TableMoveView(APIView):
    @extend_schema(request=MoveIn, responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Move the tab to a free table (answers the target table)")
    @idempotent
    def post(self, request, table_id: str):
        body = MoveIn(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(TableOut(services.table_move(tenant_id=request.user.tenant_id, table_id=table_id,
                                                   target_table_id=body.validated_data["target_table_id"])).data)


class TableMergeView(APIView):
    @extend_schema(request=MergeIn, responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER],
                   summary="Merge the other table's tab into this table's tab (answers this table)")
    @idempotent
    def post(self, request, table_id: str):
        body = MergeIn(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(TableOut(services.table_merge(tenant_id=request.user.tenant_id, table_id=table_id,
                                                    other_table_id=body.validated_data["other_table_id"])).data)
