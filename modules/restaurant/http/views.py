"""Terminal API of the restaurant module: menus served now, tables and their tabs. Views are thin: they
parse, call a service or selector, and render; errors become problem responses at the edge."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import Pagination
from pos.api.schema import AutoSchema

from .. import selectors, services
from ..dto import TableInfo
from .serializers import MenuOut, MergeIn, MoveIn, TableFilterIn, TableOut


class MenuListView(APIView):
    permission_actions = {"GET": "menus.read"}
    pagination_class = Pagination

    @extend_schema(responses=MenuOut(many=True), summary="Menus served now (tenant's time), with prices and stock")
    def get(self, request):
        menus = selectors.menus_available(tenant_id=request.user.tenant_id)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(menus, request, view=self)
        return paginator.get_paginated_response(MenuOut(page, many=True).data)


class MenuDetailView(APIView):
    permission_actions = {"GET": "menus.read"}

    @extend_schema(responses=MenuOut, summary="One active menu with prices and stock (available_now says if served)")
    def get(self, request, menu_id: str):
        return Response(MenuOut(selectors.menu_view(tenant_id=request.user.tenant_id, menu_id=menu_id)).data)


class TableListView(APIView):
    permission_actions = {"GET": "tables.read"}
    pagination_class = Pagination

    @extend_schema(parameters=[TableFilterIn], responses=TableOut(many=True), summary="Tables, by area and status")
    def get(self, request):
        filters = TableFilterIn(data=request.query_params.dict())  # "" is a value, not absent
        filters.is_valid(raise_exception=True)
        tables = selectors.table_list(tenant_id=request.user.tenant_id, area=filters.validated_data.get("area") or None,
                                       status=filters.validated_data.get("status"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(tables, request, view=self)
        return paginator.get_paginated_response(TableOut(page, many=True).data)


class TableDetailView(APIView):
    permission_actions = {"GET": "tables.read"}

    @extend_schema(responses=TableOut, summary="One table with its open tab's orders")
    def get(self, request, table_id: str):
        return Response(TableOut(selectors.table_get(tenant_id=request.user.tenant_id, table_id=table_id)).data)


@dataclass(frozen=True)
class TableAction:
    """A table's action at the terminal: the service it calls, what the schema says, and its body (if any), whose
    fields are the service's arguments."""

    run: Callable[..., TableInfo]
    summary: str
    body: type[serializers.Serializer] | None = None


TABLE_ACTIONS = {
    "open": TableAction(services.table_open, "Seat guests: open a tab on a free table (409 if it is not free)"),
    "close": TableAction(services.table_close, "Close the table's tab: its orders complete, the table needs cleaning"),
    "clean": TableAction(services.table_mark_free, "The table was cleaned: it is free again"),
    "move": TableAction(services.table_move, "Move the tab to a free table (answers the target table)", MoveIn),
    "merge": TableAction(services.table_merge, "Merge the other table's tab into this table's tab (answers this table)",
                         MergeIn),
}


class _TableActionSchema(AutoSchema):
    def get_summary(self):
        return TABLE_ACTIONS[self.view.table_action].summary

    def get_request_serializer(self):
        return TABLE_ACTIONS[self.view.table_action].body


# POST tables/{id}/<action>: one URL per entry of TABLE_ACTIONS (the docstring would become the schema's description).
class TableActionView(APIView):
    permission_actions = {"POST": "tables.service"}
    table_action = ""
    schema = _TableActionSchema()

    @extend_schema(responses=TableOut, parameters=[IDEMPOTENCY_KEY_PARAMETER])
    @idempotent
    def post(self, request, table_id: str):
        action = TABLE_ACTIONS[self.table_action]
        arguments = {}
        if action.body is not None:
            body = action.body(data=request.data)
            body.is_valid(raise_exception=True)
            arguments = body.validated_data
        return Response(TableOut(action.run(tenant_id=request.user.tenant_id, table_id=table_id, **arguments)).data)
