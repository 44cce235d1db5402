"""Liveness and readiness probes. Readiness checks every module database, and in service mode the cache
and the broker."""

from __future__ import annotations

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
    if settings.REDIS_URL:
        checks["cache"] = _check(_cache)
        checks["broker"] = _check(_broker)
    ready = all(item["ok"] for item in checks.values())
    mode = "service" if settings.SERVICE_MODE or settings.REDIS_URL else "embedded"
    return JsonResponse({"status": "ready" if ready else "unavailable", "mode": mode, "checks": checks},
                        status=200 if ready else 503)
