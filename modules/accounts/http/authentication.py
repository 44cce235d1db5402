"""Terminal authentication: `Authorization: Bearer pos_<prefix>_<secret>`.

The tenant comes from the token, never from a header. An `X-Tenant-ID` header (id or slug) that
disagrees with the token is refused with 403."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

from pos import logging as pos_logging
from pos import tenancy
from pos.api import throttling

from ..dto import TerminalIdentity
from ..errors import InvalidToken
from ..services import terminal_authenticate


@dataclass(frozen=True)
class TerminalPrincipal:
    terminal: TerminalIdentity
    is_authenticated: bool = True
    is_anonymous: bool = False

    @property
    def tenant_id(self) -> uuid.UUID:
        return self.terminal.tenant_id

    @property
    def role(self) -> str:
        return self.terminal.role

    @property
    def pk(self) -> uuid.UUID:
        return self.terminal.id


class TerminalTokenAuthentication(BaseAuthentication):
    keywords = (b"bearer", b"token")

    def authenticate(self, request):
        header = get_authorization_header(request).split()
        if not header or header[0].lower() not in self.keywords:
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        throttling.refuse_if_blocked(request)  # 429 while this address has too many recent failures
        try:
            identity = terminal_authenticate(token=header[1].decode("ascii", errors="replace"))
        except InvalidToken as exc:
            throttling.record_failure(request, "bearer token")
            raise exceptions.AuthenticationFailed(exc.detail) from None
        claimed = request.headers.get("X-Tenant-ID")
        if claimed is not None and claimed not in {str(identity.tenant_id), identity.tenant_slug}:
            raise exceptions.PermissionDenied("X-Tenant-ID does not match the tenant of this terminal's token.")
        tenancy.activate(identity.tenant_id)
        pos_logging.bind(tenant_id=identity.tenant_id, terminal_id=identity.id)
        return TerminalPrincipal(identity), identity

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="pos"'


class TerminalTokenScheme(OpenApiAuthenticationExtension):
    """Documents terminal tokens in the OpenAPI schema."""

    target_class = "modules.accounts.http.authentication.TerminalTokenAuthentication"
    name = "terminalToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "pos_<prefix>_<secret>",
                "description": "A terminal's API token (manage.py create_terminal, or the admin)."}
