"""Catalog reads survive a Redis outage: with the Redis that serves as cache and broker stopped, `GET
/stock-levels` answers from inventory instead of failing, and orders are still taken (their events wait in
the outbox). A redis-server of the test's own, stopped for real."""

from __future__ import annotations

import pytest

from modules.pos_core import services
from pos.models import OutboxEvent

from .conftest import new_key, order_body

pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture
def cache_on_private_redis(settings, private_redis, use_broker):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": private_redis.url,
                                   "OPTIONS": {"socket_connect_timeout": 1, "socket_timeout": 1}}}
    with use_broker(private_redis.url):
        yield private_redis


def test_stock_levels_fall_back_to_inventory_when_the_cache_is_down(api, tenant, catalog, cache_on_private_redis,
                                                                    settings):
    levels = api.get("/api/v1/stock-levels?items=mohinga,tea:large").json()
    assert {r["source"] for r in levels} == {"inventory"}
    assert {r["source"] for r in api.get("/api/v1/stock-levels?items=mohinga,tea:large").json()} == {"cache"}

    cache_on_private_redis.stop()
    response = api.get("/api/v1/stock-levels?items=mohinga,tea:large")
    assert response.status_code == 200, response.content
    assert [(r["product_id"], r["variant"], r["level"], r["source"]) for r in response.json()] == [
        ("mohinga", None, 10, "inventory"), ("tea", "large", 10, "inventory")]

    # Orders keep working while the cache is away, and the levels read stay inventory's truth.
    placed = api.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY=new_key())
    assert placed.status_code == 201, placed.json()
    after = {r["product_id"]: r["level"] for r in api.get("/api/v1/stock-levels?items=mohinga").json()}
    assert after["mohinga"] < 10
    if not settings.EVENTS_IN_PROCESS:  # service mode: the events wait in the outbox for the broker
        assert OutboxEvent.objects.using("inventory").filter(status=OutboxEvent.Status.PENDING).exists()

    cache_on_private_redis.start()  # an empty cache again: filled from inventory on the next read
    assert api.get("/api/v1/stock-levels?items=mohinga").json()[0]["source"] == "inventory"


def test_the_stock_handler_is_retried_while_the_cache_is_down(tenant, cache_on_private_redis):
    cache_on_private_redis.stop()
    with pytest.raises(Exception) as raised:
        services.stock_level_apply(tenant_id=tenant.id, product_id="p9", variant=None, level=4, threshold=1,
                                   sequence=1)
    assert "onnect" in str(raised.value)
