"""A manager's approval on a cashier terminal: `X-Manager-Approval: <manager username>:<approval code>`.

Registered with the permission matrix (pos.api.permissions) at start-up. Wrong codes count as failed
credentials of the client address (pos.api.throttling), like wrong bearer tokens."""

from __future__ import annotations

from rest_framework import exceptions

from pos.api import throttling

from ..services import manager_approval_verify


def verify_manager_approval(tenant_id, header: str, request) -> str:
    throttling.refuse_if_blocked(request)
    username, separator, code = header.partition(":")
    approver = None
    if separator and username and code:
        approver = manager_approval_verify(tenant_id=tenant_id, username=username.strip(), code=code.strip())
    if approver is None:
        throttling.record_failure(request, "manager approval")
        raise exceptions.PermissionDenied("The manager approval is not valid (send 'username:approval code' of a "
                                          "manager of this restaurant).")
    return approver
