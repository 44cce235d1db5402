from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from ..selectors import tenant_get


class TerminalOut(serializers.Serializer):
    id = serializers.UUIDField()
    name = serializers.CharField()
    role = serializers.CharField()
    last_used_at = serializers.DateTimeField(allow_null=True)


class TenantOut(serializers.Serializer):
    id = serializers.UUIDField()
    slug = serializers.CharField()
    name = serializers.CharField()
    currency = serializers.CharField()
    currency_exponent = serializers.IntegerField()
    locales = serializers.ListField(child=serializers.CharField())
    timezone = serializers.CharField()
    payment_methods = serializers.ListField(child=serializers.CharField())


class MeOut(serializers.Serializer):
    terminal = TerminalOut()
    tenant = TenantOut()


class MeView(APIView):
    permission_actions = {"GET": "me.read"}

    @extend_schema(responses=MeOut, summary="The calling terminal and its restaurant")
    def get(self, request):
        tenant = tenant_get(tenant_id=request.user.tenant_id)
        return Response(MeOut({"terminal": request.user.terminal, "tenant": tenant}).data)
