"""Staff sign-in to the admin.

- `LockoutBackend`: django-axes' check, first in AUTHENTICATION_BACKENDS.
- `StaffBackend`: Django's model backend, refusing staff whose restaurant is deactivated (at sign-in, and for
  sessions already open: Django asks the backend for the session's user on every request).
- `login_locked_out`: django-axes' answer once a username has failed too often from one address: 429
  problem+json with `Retry-After` (the cool-off left). Axes counts failures per username and address in the
  accounts database, so every web process sees them; a superuser unlocks from the admin (Axes > Access attempts)
  or with `manage.py axes_reset_username USERNAME`.
"""

from __future__ import annotations

import logging

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_client_ip_address, get_cool_off
from django.contrib.auth.backends import ModelBackend
from rest_framework.throttling import BaseThrottle

from pos.api.errors import problem_json_response

logger = logging.getLogger("modules.accounts.login")


class LockoutBackend(AxesStandaloneBackend):
    """django-axes' lock-out check for every sign-in over HTTP. A sign-in without a request (a script, a test's
    `client.login`) has no client address to count and is left to the next backend."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username, password, **kwargs)


class StaffBackend(ModelBackend):
    def user_can_authenticate(self, user) -> bool:
        if not super().user_can_authenticate(user):
            return False
        if user.is_superuser or user.tenant_id is None:
            return True
        return user.tenant.is_active


def client_address(request) -> str:
    """The client's address as the API's throttling sees it (DRF: X-Forwarded-For only behind trusted proxies)."""
    return BaseThrottle().get_ident(request)


def login_locked_out(request, original_response=None, credentials=None):
    cool_off = get_cool_off(request)
    seconds = max(1, int(cool_off.total_seconds())) if cool_off else None
    username = (credentials or {}).get("username", "")
    logger.warning("admin login locked out", extra={"client_address": get_client_ip_address(request),
                                                      "username": username[:150]})
    detail = ("Too many failed sign-ins for this user from this address. "
              + (f"Try again in {seconds} seconds." if seconds else "Ask an administrator to unlock the account."))
    return problem_json_response(429, "Too many requests", detail, "login-locked-out",
                                 headers={"Retry-After": str(seconds)} if seconds else None)


def log_login_failure(sender, credentials=None, request=None, **kwargs) -> None:
    """Every failed admin sign-in is logged with the client's address (django-axes masks it in its own lines)."""
    if request is None:
        return
    username = str((credentials or {}).get("username", ""))[:150]
    logger.warning("admin login failed", extra={"client_address": client_address(request), "username": username})
