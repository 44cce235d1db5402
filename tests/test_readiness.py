"""`/readyz`: a database outage takes the process out of rotation (503); a cache or broker outage is reported as
degraded (200), because orders do not need them (the outbox absorbs a broker outage). Against a redis-server of
the test's own, stopped for real."""

from __future__ import annotations

import pytest
from django.db import connections

from conftest import _free_port

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def client(client, settings):
    """Monitoring: sends the readiness token, so it sees which component failed."""
    settings.READYZ_TOKEN = "monitoring-secret-1"
    client.defaults["HTTP_X_READYZ_TOKEN"] = "monitoring-secret-1"
    return client


@pytest.fixture
def on_private_redis(settings, private_redis, use_broker):
    settings.REDIS_URL = private_redis.url
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": private_redis.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    with use_broker(private_redis.url):
        yield private_redis


def test_a_redis_outage_is_degraded_not_unready(client, on_private_redis):
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert ready.json()["checks"]["cache"]["ok"] and ready.json()["checks"]["broker"]["ok"]

    on_private_redis.stop()
    degraded = client.get("/readyz")
    assert degraded.status_code == 200
    body = degraded.json()
    assert body["status"] == "degraded" and body["degraded"] == ["broker", "cache"]
    assert not body["checks"]["cache"]["ok"] and "Error" in body["checks"]["cache"]["error"]
    assert all(body["checks"][f"database:{alias}"]["ok"] for alias in connections)

    on_private_redis.start()
    assert client.get("/readyz").json()["status"] == "ready"


def test_a_database_outage_is_unready(client):
    connection = connections["restaurant"]
    saved = dict(connection.settings_dict)
    connection.close()
    if connection.vendor == "sqlite":
        connection.settings_dict["NAME"] = "/nonexistent-directory/restaurant.sqlite3"
    else:
        connection.settings_dict["PORT"] = _free_port()  # nothing listens there
    try:
        response = client.get("/readyz")
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable" and not body["checks"]["database:restaurant"]["ok"]
    assert body["checks"]["database:pos_core"]["ok"]
    assert client.get("/readyz").status_code == 200


def test_anonymous_callers_learn_only_the_status(settings):
    from django.test import Client

    settings.READYZ_TOKEN = "monitoring-secret-1"
    for headers in ({}, {"HTTP_X_READYZ_TOKEN": "guess"}):
        body = Client().get("/readyz", **headers).json()
        assert body == {"status": "ready"}


def test_a_superuser_sees_the_checks():
    from django.test import Client

    from modules.accounts.models import User

    root = Client()
    root.force_login(User.objects.create_superuser("root", password="pw-123456-long"))
    body = root.get("/readyz").json()
    assert body["status"] == "ready" and body["checks"]["database:default"]["ok"] and body["mode"]
