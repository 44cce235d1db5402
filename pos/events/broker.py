"""Celery's Redis broker transport, publishing without building a Redis client per message.

kombu's Redis channel makes a new `redis.Redis` client for every message it publishes (`conn_or_acquire` calls
`_create_client`). Building one is not free: redis-py fills a table of about 170 response callbacks, about
0.2 ms of CPU on a small server, twice what the LPUSH itself costs, and an order placement publishes one task.
This channel keeps its synchronous client and reuses it while its connection pool is the same (kombu drops
the pool when the channel closes or reconnects: a new client is then made for the new pool). A Redis client
is safe to share between threads: each command takes a connection from the pool. The consuming side (the
worker's asynchronous client) is kombu's, unchanged.

`CELERY_BROKER_TRANSPORT` names this transport when the broker URL is `redis://` (config/settings.py); any other
broker is kombu's own."""

from __future__ import annotations

from kombu.transport import redis as kombu_redis


class Channel(kombu_redis.Channel):
    _publishing_client = None

    def _create_client(self, asynchronous=False):
        if asynchronous:
            return super()._create_client(asynchronous=True)
        client = self._publishing_client
        if client is None or client.connection_pool is not self.pool:
            client = self._publishing_client = super()._create_client()
        return client


class Transport(kombu_redis.Transport):
    Channel = Channel
