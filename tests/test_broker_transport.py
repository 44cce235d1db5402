"""`pos.events.broker`: Celery's Redis transport, publishing with one Redis client per channel instead of one per
message (kombu builds a new client for each, about 0.2 ms of CPU). The messages are kombu's own, a worker reads
them as before, and a channel whose connection pool was dropped (closed, reconnected) gets a client for the new
pool. Service mode (a real Redis); embedded mode has no broker."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from django.conf import settings

from config.celery import app
from pos.events import broker

pytestmark = pytest.mark.service


@pytest.fixture
def redis_broker():
    if not settings.CELERY_BROKER_URL.startswith("redis://") or settings.CELERY_TASK_ALWAYS_EAGER:
        pytest.skip("service mode only: embedded mode has no broker")
    queue = f"test-broker-{uuid.uuid4().hex[:8]}"
    with app.connection_for_write() as connection:
        yield connection, queue
        connection.default_channel.client.delete(queue)


def test_redis_urls_use_the_transport_that_keeps_its_client(redis_broker):
    connection, _ = redis_broker
    assert settings.CELERY_BROKER_TRANSPORT == "pos.events.broker:Transport"
    assert isinstance(connection.default_channel, broker.Channel)


def test_one_client_per_channel_and_a_new_one_for_a_new_pool(redis_broker):
    connection, _ = redis_broker
    channel = connection.channel()
    try:
        first = channel._create_client()
        assert channel._create_client() is first
        assert first.connection_pool is channel.pool
        channel._pool = None  # what kombu does when it drops its pools (close, reconnect)
        again = channel._create_client()
        assert again is not first and again.connection_pool is channel.pool
        # the consuming side's asynchronous client is kombu's own, made as before
        assert channel._create_client(asynchronous=True) is not again
    finally:
        channel.close()


def test_a_task_sent_through_it_is_a_celery_message_on_the_queue(redis_broker):
    connection, queue = redis_broker
    from pos.events.tasks import deliver_groups

    groups = {"inventory": [str(uuid.uuid4())], "pos_core": [str(uuid.uuid4())]}
    producer = connection.Producer()  # this connection's own (the app's pool is another test's business)
    assert isinstance(producer.channel, broker.Channel)
    for _ in range(3):  # the same channel's client, three times
        deliver_groups.apply_async(args=(groups,), queue=queue, retry=False, producer=producer)
    assert producer.channel._publishing_client is not None
    raw = connection.default_channel.client.lrange(queue, 0, -1)
    assert len(raw) == 3
    message = json.loads(raw[0])
    assert message["headers"]["task"] == "pos.events.deliver_groups"
    assert message["properties"]["body_encoding"] == "base64"
    body = json.loads(base64.b64decode(message["body"]))
    assert body[0] == [groups]
