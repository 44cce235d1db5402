"""Liveness and readiness probes. Readiness checks every module database, and in service mode the cache
and the broker.

A database that does not answer makes the process unready (503): it cannot take an order. The cache and the
broker are not needed to take one (the outbox keeps events until the broker is back, catalog reads fall
back to inventory), so their outage answers 200 with `"status": "degraded"`: a load balancer keeps the web
processes in rotation while monitoring sees what is missing.

An anonymous caller learns only the status. The checks (which component, its error, timings, the mode) are
shown to a superuser signed in to the admin, or to monitoring that sends `X-Readyz-Token: <READYZ_TOKEN>`."""

from __future__ import annotations

import hmac
import time

from django.conf import settings
from django.core.cache import cache
from django.db import connections
from django.http import JsonResponse


def healthz(request):
    return JsonResponse({"status": "ok"})


def _check(fn) -> dict:
    started = time.perf_counter()
    try:
        fn()
    except Exception as exc:  # noqa: BLE001 - a probe reports, it does not raise
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "ms": round((time.perf_counter() - started) * 1000, 2)}


def _database(alias: str):
    def probe() -> None:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")

    return probe


def _cache() -> None:
    cache.set("readyz", "1", 5)
    if cache.get("readyz") != "1":
        raise RuntimeError("cache did not return what was written")


def _broker() -> None:
    from celery import current_app as app

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)


def readyz(request):
    checks = {f"database:{alias}": _check(_database(alias)) for alias in settings.DATABASES}
    essential = all(item["ok"] for item in checks.values())
    if settings.REDIS_URL:
        checks["cache"] = _check(_cache)
        checks["broker"] = _check(_broker)
    if not essential:
        status = "unavailable"
    elif all(item["ok"] for item in checks.values()):
        status = "ready"
    else:
        status = "degraded"
    body = {"status": status}
    if _may_see_details(request):
        body["mode"] = "service" if settings.SERVICE_MODE or settings.REDIS_URL else "embedded"
        body["checks"] = checks
        if status == "degraded":
            body["degraded"] = sorted(name for name, item in checks.items() if not item["ok"])
    response = JsonResponse(body, status=503 if status == "unavailable" else 200)
    response["Cache-Control"] = "no-store"
    return response


def _may_see_details(request) -> bool:
    token = settings.READYZ_TOKEN
    sent = request.headers.get("X-Readyz-Token", "")
    if token and sent and hmac.compare_digest(token.encode(), sent.encode("utf-8", "replace")):
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated and user.is_superuser)
