"""Brute force is throttled: wrong bearer tokens per client address (DRF throttling over the shared cache)."""

from __future__ import annotations

import logging

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
