"""Test-only endpoints that exercise the kernel's API conventions in isolation."""

import threading

from django.urls import include, path
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from config.urls import urlpatterns as real_urlpatterns
from pos.api.idempotency import idempotent
from pos.errors import Conflict

calls: list[dict] = []
gate = threading.Event()


class EchoIn(serializers.Serializer):
    quantity = serializers.IntegerField(min_value=1)
    name = serializers.CharField(max_length=10)


class EchoView(APIView):
    permission_actions = {"POST": "orders.place"}

    @idempotent
    def post(self, request):
        data = EchoIn(data=request.data)
        data.is_valid(raise_exception=True)
        calls.append(dict(data.validated_data))
        return Response({"n": len(calls), **data.validated_data}, status=201)


class SlowView(APIView):
    permission_actions = {"POST": "orders.place"}

    @idempotent
    def post(self, request):
        gate.wait(timeout=10)
        calls.append({"slow": True})
        return Response({"n": len(calls)}, status=201)


class ConflictView(APIView):
    permission_actions = {"POST": "orders.place"}

    @idempotent
    def post(self, request):
        calls.append({"conflict": True})
        raise Conflict("Stock levels changed. Please refresh and try again.", lines=[{"product_id": "p1"}])


class BoomView(APIView):
    permission_actions = {"GET": "me.read"}

    def get(self, request):
        raise RuntimeError("boom")


urlpatterns = [
    path("api/v1/test/echo", EchoView.as_view()),
    path("api/v1/test/slow", SlowView.as_view()),
    path("api/v1/test/conflict", ConflictView.as_view()),
    path("api/v1/test/boom", BoomView.as_view()),
    path("", include(real_urlpatterns)),
]
