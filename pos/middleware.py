"""Request context: a request id for logs and responses, and the tenant scope of staff users in the admin.
Terminal requests get their tenant from their token (accounts' DRF authentication)."""

from __future__ import annotations

import re
import uuid

from pos import logging as pos_logging
from pos import tenancy

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
