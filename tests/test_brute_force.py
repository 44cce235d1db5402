"""Brute force is throttled: wrong bearer tokens per client address (DRF throttling over the shared cache)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from conftest import make_terminal_client

pytestmark = pytest.mark.django_db(databases="__all__")


@pytest.fixture
def low_rate(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {"failed_credentials": "3/min"}}


def wrong(address="127.0.0.1"):
    client = APIClient(REMOTE_ADDR=address)
    client.credentials(HTTP_AUTHORIZATION="Bearer pos_0123456789ab_not-the-secret")
    return client.get("/api/v1/me")


def test_wrong_tokens_from_one_address_get_429_with_retry_after(low_rate, tenant, caplog):
    caplog.set_level(logging.WARNING, logger="pos.api.throttling")
    assert [wrong().status_code for _ in range(3)] == [401, 401, 401]
    blocked = wrong()
    assert blocked.status_code == 429
    assert blocked["Content-Type"].startswith("application/problem+json")
    assert 1 <= int(blocked["Retry-After"]) <= 60
    assert blocked.json()["status"] == 429
    # even the right token is not checked from that address while it is blocked: a lucky guess teaches nothing
    good = make_terminal_client(tenant)
    assert good.get("/api/v1/me", REMOTE_ADDR="127.0.0.1").status_code == 429
    # other addresses are not affected
    assert good.get("/api/v1/me", REMOTE_ADDR="10.9.8.7").status_code == 200
    assert wrong("10.9.8.7").status_code == 401
    failures = [r for r in caplog.records if r.getMessage() == "failed credentials"]
    assert len(failures) == 4 and {r.client_address for r in failures} == {"127.0.0.1", "10.9.8.7"}


def test_the_block_lifts_when_the_window_passes(low_rate, tenant, monkeypatch):
    import time

    from pos.api import throttling

    now = [time.time()]
    monkeypatch.setattr(throttling.FailedCredentialsThrottle, "timer", lambda self: now[0])
    for _ in range(3):
        wrong()
    assert wrong().status_code == 429
    now[0] += 61
    assert wrong().status_code == 401


def test_a_forwarded_for_header_does_not_choose_the_address(low_rate, tenant):
    """Without trusted proxies (API_NUM_PROXIES=0) X-Forwarded-For is ignored: rotating it does not reset the count."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer pos_0123456789ab_nope")
    statuses = [client.get("/api/v1/me", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code for n in range(5)]
    assert statuses == [401, 401, 401, 429, 429]


# --- admin sign-in: django-axes, per username and address, state in the accounts database ----------------


@pytest.fixture
def manager(tenant):
    from modules.accounts.models import User

    return User.objects.create_user("boss", password="right-password-1", tenant_id=tenant.id, role="manager",
                                    is_staff=True)


def sign_in(client, password, username="boss", address="127.0.0.1"):
    return client.post("/admin/login/?next=/admin/", {"username": username, "password": password},
                       REMOTE_ADDR=address)


def test_admin_sign_in_locks_after_failures_per_user_and_address(client, manager, settings, caplog):
    caplog.set_level(logging.INFO)
    limit = settings.AXES_FAILURE_LIMIT
    for _ in range(limit - 1):
        assert sign_in(client, "wrong").status_code == 200  # the form again, with an error
    locked = sign_in(client, "wrong")
    assert locked.status_code == 429
    assert locked["Content-Type"].startswith("application/problem+json")
    assert int(locked["Retry-After"]) == int(settings.AXES_COOLOFF_TIME.total_seconds())
    # the right password does not get in while locked
    assert sign_in(client, "right-password-1").status_code == 429
    # the same user from another address, and another user from this address, are not locked
    assert sign_in(client, "right-password-1", address="10.9.8.7").status_code == 302
    assert sign_in(client, "wrong", username="someone-else").status_code == 200
    failures = [r for r in caplog.records if r.getMessage() == "admin login failed"]
    assert len(failures) >= limit + 1
    assert {r.client_address for r in failures} == {"127.0.0.1"}


def test_a_lock_lifts_after_the_cool_off(client, manager, settings):
    from axes.models import AccessAttempt

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    assert sign_in(client, "right-password-1").status_code == 429
    past = AccessAttempt.objects.all()
    past.update(attempt_time=past.first().attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert sign_in(client, "right-password-1").status_code == 302


def test_a_superuser_unlocks_in_the_admin_and_a_manager_cannot(client, manager, settings):
    from axes.models import AccessAttempt
    from django.test import Client

    from modules.accounts.models import User

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    assert sign_in(client, "right-password-1").status_code == 429
    other_manager = User.objects.create_user("boss2", password="pw-123456-long", tenant_id=manager.tenant_id,
                                             role="manager", is_staff=True)
    as_manager = Client()
    as_manager.force_login(other_manager)
    assert as_manager.get("/admin/axes/accessattempt/").status_code == 403
    root = Client()
    root.force_login(User.objects.create_superuser("root", password="pw-123456-long"))
    ids = [str(pk) for pk in AccessAttempt.objects.values_list("pk", flat=True)]
    response = root.post("/admin/axes/accessattempt/",
                         {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert response.status_code == 302
    assert sign_in(client, "right-password-1").status_code == 302


def test_lockout_state_is_in_the_database_every_process_reads(client, manager, settings):
    """A second process (simulated by a fresh handler reading only the database) sees the lock."""
    from axes.handlers.database import AxesDatabaseHandler
    from axes.models import AccessAttempt
    from django.test import RequestFactory

    for _ in range(settings.AXES_FAILURE_LIMIT):
        sign_in(client, "wrong")
    assert AccessAttempt.objects.filter(username="boss", ip_address="127.0.0.1").exists()
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="127.0.0.1")
    request.axes_ip_address, request.axes_user_agent = "127.0.0.1", ""
    request.axes_path_info, request.axes_http_accept = "/admin/login/", ""
    request.axes_attempt_time = __import__("django.utils.timezone").utils.timezone.now()
    assert AxesDatabaseHandler().is_locked(request, {"username": "boss"})


def test_a_cache_outage_does_not_lock_terminals_out(tenant, monkeypatch):
    """The throttle's counts are in the cache: with it unreachable, terminals keep working (fail open)."""
    from django.core.cache import cache

    def down(*args, **kwargs):
        raise ConnectionError("cache unreachable")

    monkeypatch.setattr(cache, "get", down)
    monkeypatch.setattr(cache, "set", down)
    assert make_terminal_client(tenant).get("/api/v1/me").status_code == 200
    assert wrong().status_code == 401
