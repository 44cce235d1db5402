"""Request context: a request id for logs and responses, and the tenant scope of staff users in the admin.
Terminal requests get their tenant from their token (accounts' DRF authentication)."""

from __future__ import annotations

import re
import uuid

from django.conf import settings
from django.utils.cache import patch_cache_control

from pos import logging as pos_logging
from pos import tenancy
from pos.api.errors import problem_json_response

_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{8,128}$")


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        scope_token = tenancy.activate(None)  # nothing leaks between requests served by one thread
        log_token = pos_logging.bind(request_id=request_id)
        try:
            response = self.get_response(request)
        finally:
            pos_logging.unbind(log_token)
            tenancy.deactivate(scope_token)
        response["X-Request-ID"] = request_id
        return response


class StaffTenantMiddleware:
    """Scopes admin requests: a manager to their tenant, a superuser to all tenants."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            user = getattr(request, "user", None)
            if user is not None and user.is_authenticated:
                if user.is_superuser:
                    tenancy.activate(tenancy.ALL_TENANTS)
                elif getattr(user, "tenant_id", None):
                    tenancy.activate(user.tenant_id)
        return self.get_response(request)


class ApiInputGuardMiddleware:
    """Refuses API requests no view could handle safely, before any view runs: a declared body larger than
    `API_MAX_BODY_BYTES` (413, nothing read) and NUL characters in the path or the query string (400; PostgreSQL
    text cannot hold them). The JSON parser (pos.api.parsers) checks what the body holds."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            refused = self._refuse(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    @staticmethod
    def _refuse(request):
        declared = request.META.get("CONTENT_LENGTH") or "0"
        try:
            length = int(declared)
        except ValueError:
            return problem_json_response(400, "Bad request", "Content-Length must be a number of bytes.",
                                         "bad-content-length")
        limit = settings.API_MAX_BODY_BYTES
        if length > limit:
            return problem_json_response(413, "Request body too large",
                                         f"The request body is larger than {limit} bytes.", "body-too-large")
        if "\x00" in request.path or any(
                "\x00" in key or any("\x00" in value for value in values) for key, values in request.GET.lists()):
            return problem_json_response(400, "Bad request", "The path and query may not contain NUL characters.",
                                         "invalid-text")
        return None


class NoStoreMiddleware:
    """`Cache-Control: no-store, private` on every API answer to a request that carries credentials: orders,
    payments and reports must not stay in a browser's, a proxy's or a tablet's cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path.startswith("/api/") and "HTTP_AUTHORIZATION" in request.META:
            patch_cache_control(response, no_store=True, private=True)
        return response
