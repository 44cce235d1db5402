"""Every API error is an RFC 9457 problem+json body: type, title, status, detail, and field errors."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

from pos.db import drop_broken_connections
from pos.errors import DomainError
from pos.tenancy import TenantMismatch, TenantScopeMissing

logger = logging.getLogger("pos.api")
PROBLEM_CONTENT_TYPE = "application/problem+json"
TYPE_BASE = "https://pos.example/problems/"


def problem(status_code: int, title: str, detail: str, type_slug: str | None = None, **extra: Any) -> dict:
    body = {
        "type": TYPE_BASE + type_slug if type_slug else "about:blank",
        "title": title,
        "status": status_code,
        "detail": detail,
    }
    body.update(extra)
    return body


def _field_errors(detail: Any, prefix: str = "") -> list[dict]:
    errors: list[dict] = []
    if isinstance(detail, dict):
        for key, value in detail.items():
            if isinstance(key, int):  # an element of a list (DRF keys a nested list's errors by index)
                name = f"{prefix}[{key}]"
            else:
                name = key if not prefix else f"{prefix}.{key}"
            if key == "non_field_errors":
                name = prefix or "__all__"
            errors.extend(_field_errors(value, name))
    elif isinstance(detail, list):
        if all(isinstance(item, (str, exceptions.ErrorDetail)) for item in detail):
            errors.extend({"field": prefix or "__all__", "message": str(item), "code": getattr(item, "code", "invalid")}
                          for item in detail)
        else:
            for index, item in enumerate(detail):
                errors.extend(_field_errors(item, f"{prefix}[{index}]" if prefix else f"[{index}]"))
    else:
        errors.append({"field": prefix or "__all__", "message": str(detail), "code": getattr(detail, "code", "invalid")})
    return errors


def problem_response(body: dict, headers: dict | None = None) -> Response:
    response = Response(body, status=body["status"], headers=headers)
    response.content_type = PROBLEM_CONTENT_TYPE
    return response


def problem_exception_handler(exc: Exception, context: dict) -> Response:
    if isinstance(exc, DomainError):
        set_rollback()
        return problem_response(problem(exc.status, exc.title, exc.detail, exc.type, **exc.extra))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, (DjangoPermissionDenied, TenantMismatch)):
        exc = exceptions.PermissionDenied()
    if isinstance(exc, exceptions.ValidationError):
        set_rollback()
        return problem_response(problem(400, "Invalid input", "The request has invalid fields.", "invalid-input",
                                        errors=_field_errors(exc.detail)))
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None):
            headers["Retry-After"] = str(int(exc.wait))
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        title = {400: "Bad request", 401: "Not authenticated", 403: "Forbidden", 404: "Not found",
                 405: "Method not allowed", 406: "Not acceptable", 413: "Request body too large",
                 415: "Unsupported media type", 429: "Too many requests"}.get(exc.status_code, "Error")
        slug = exc.default_code.replace("_", "-") if isinstance(exc.default_code, str) else None
        return problem_response(problem(exc.status_code, title, str(detail), slug), headers)
    if isinstance(exc, (OperationalError, InterfaceError)):
        # A lost connection (a server restarted or failed over, a killed backend), not the client's doing: what
        # was committed before it stays, and every write here answers again by its Idempotency-Key.
        logger.warning("database unavailable", extra={"error": str(exc)[:300]})
        set_rollback()
        drop_broken_connections()
        return problem_response(problem(
            503, "Service unavailable", "A database connection was lost and the outcome is not known yet. Retry "
            "with the same Idempotency-Key: nothing is done twice.", "database-unavailable"), {"Retry-After": "1"})
    if isinstance(exc, TenantScopeMissing):
        logger.error("tenant scope missing", exc_info=exc)
    else:
        logger.exception("unhandled error", exc_info=exc)
    set_rollback()
    return problem_response(problem(500, "Internal server error", "An unexpected error occurred.", "server-error"))


def _json_problem(status_code: int, title: str, detail: str, slug: str, headers: dict | None = None,
                  **extra: Any) -> JsonResponse:
    return JsonResponse(problem(status_code, title, detail, slug, **extra), status=status_code,
                        content_type=PROBLEM_CONTENT_TYPE, json_dumps_params={"ensure_ascii": False},
                        headers=headers)


def problem_json_response(status_code: int, title: str, detail: str, slug: str, headers: dict | None = None,
                          **extra: Any) -> JsonResponse:
    """A problem+json answer outside DRF (middleware, plain Django views)."""
    return _json_problem(status_code, title, detail, slug, headers, **extra)


def not_found(request, exception=None):
    return _json_problem(404, "Not found", f"No resource at {request.path}.", "not-found")


def server_error(request):
    return _json_problem(500, "Internal server error", "An unexpected error occurred.", "server-error")


def bad_request(request, exception=None):
    return _json_problem(400, "Bad request", "The request could not be understood.", "bad-request")


def permission_denied(request, exception=None):
    return _json_problem(403, "Forbidden", "You do not have permission to do this.", "permission-denied")


@csrf_exempt  # a POST to an unknown API path is a 404 problem, not an HTML CSRF page
def api_not_found(request, *args, **kwargs):
    """Catch-all under /api/v1/ so unknown paths answer problem+json even with DEBUG on."""
    return not_found(request)


__all__ = ["problem", "problem_exception_handler", "problem_json_response", "problem_response", "status"]
