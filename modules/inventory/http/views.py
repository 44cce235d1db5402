"""Terminal API of the inventory module: the catalog with stock, and stock adjustments."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import APIView

from modules.accounts import api as accounts
from pos.api.idempotency import IDEMPOTENCY_KEY_PARAMETER, idempotent
from pos.api.pagination import KeysetPagination, Pagination
from pos.api.permissions import approved_by, require

from ..selectors import catalog_queryset, categories_list, product_get, product_infos, stock_levels_get
from ..services import stock_adjust, stock_count
from .serializers import CatalogCategoryOut, CatalogProductOut, InventoryStockLevelOut, StockAdjustmentIn

TRUE, FALSE = {"true", "1", "yes"}, {"false", "0", "no"}
AUDITED_KINDS = {"count", "waste"}  # counts and write-offs go to the audit log


def _bool_param(request, name: str) -> bool | None:
    raw = request.query_params.get(name)
    if raw is None:
        return None
    if raw.lower() in TRUE:
        return True
    if raw.lower() in FALSE:
        return False
    raise exceptions.ValidationError({name: [f"Use true or false, not {raw!r}."]})


class ProductListView(APIView):
    permission_actions = {"GET": "catalog.read"}
    pagination_class = KeysetPagination
    keyset = ("position", "id")  # the catalog's display order, as catalog_queryset sorts it

    @extend_schema(
        summary="The catalog: products with variants, options and current stock",
        description="In display order (position, then id). A terminal syncing the whole catalog follows `next`: "
                    "from the first page on, it pages by cursor (`after`), which costs the same on every page "
                    "however large the catalog. Pages by `offset` still work (and count the matches).",
        parameters=[
            OpenApiParameter("category", OpenApiTypes.STR, description="Only this category id."),
            OpenApiParameter("active", OpenApiTypes.BOOL, description="Only active (true) or inactive (false)."),
            OpenApiParameter("q", OpenApiTypes.STR, description="Text in a name, any locale."),
        ],
        responses=CatalogProductOut(many=True),
    )
    def get(self, request):
        queryset = catalog_queryset(category_id=request.query_params.get("category") or None,
                                    active=_bool_param(request, "active"), query=request.query_params.get("q"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(CatalogProductOut(product_infos(page), many=True).data)


class ProductDetailView(APIView):
    permission_actions = {"GET": "catalog.read"}

    @extend_schema(summary="One product with variants, options and current stock", responses=CatalogProductOut)
    def get(self, request, product_id: str):
        return Response(CatalogProductOut(product_get(tenant_id=request.user.tenant_id, product_id=product_id)).data)


class CategoryListView(APIView):
    permission_actions = {"GET": "catalog.read"}
    pagination_class = Pagination

    @extend_schema(summary="Categories in display order",
                   parameters=[OpenApiParameter("active", OpenApiTypes.BOOL)],
                   responses=CatalogCategoryOut(many=True))
    def get(self, request):
        categories = categories_list(tenant_id=request.user.tenant_id, active=_bool_param(request, "active"))
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(categories, request, view=self)
        return paginator.get_paginated_response(CatalogCategoryOut(page, many=True).data)


class AdjustmentView(APIView):
    permission_actions = {"POST": "stock.adjust"}

    @extend_schema(
        summary="Receive, write off or count stock",
        description="Needs an Idempotency-Key header; a retry with the same key applies nothing twice. "
                    "Roles: manager, cashier.",
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        request=StockAdjustmentIn, responses={201: InventoryStockLevelOut},
    )
    @idempotent
    def post(self, request):
        data = StockAdjustmentIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        tenant_id = request.user.tenant_id
        actor = f"terminal:{request.user.terminal.name}:{request.user.terminal.id}"
        variant = values.get("variant") or None
        before = None
        if values["kind"] == "count":
            require(request, "stock.count")
            before = stock_levels_get(tenant_id=tenant_id, items=[(values["product_id"], variant)]).get(
                (values["product_id"], variant))
            level = stock_count(tenant_id=tenant_id, product_id=values["product_id"], variant=variant,
                                counted=values["counted"], actor=actor, reason=values["reason"])
        else:
            level = stock_adjust(tenant_id=tenant_id, product_id=values["product_id"], variant=variant,
                                 kind=values["kind"], quantity=values["quantity"], reason=values["reason"], actor=actor,
                                 key=f"http:{request.idempotency_key}")
        if values["kind"] in AUDITED_KINDS:
            after = level.on_hand
            accounts.audit(tenant_id=tenant_id, action=f"stock.{values['kind']}",
                           actor=accounts.actor_of(request.user, approved_by=approved_by(request)),
                           object_type="stock", object_id=f"{level.product_id}:{level.variant or ''}",
                           before={"on_hand": before.on_hand if before else after + values.get("quantity", 0)},
                           after={"on_hand": after, "reason": values.get("reason", "")})
        return Response(InventoryStockLevelOut(level).data, status=201)
