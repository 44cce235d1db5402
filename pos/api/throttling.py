"""Brute-force throttling of the terminal API: failed credentials per client address.

Built on DRF's `SimpleRateThrottle` (its rate syntax, client identification and cache), but counting only
failures: a wrong bearer token or a wrong manager approval code. After `API_FAILED_CREDENTIALS_RATE` (default
10 a minute) failures from one address, every credential it presents is answered 429 problem+json with
`Retry-After` until the oldest failure leaves the window, so a right guess during the lock-out teaches nothing.

The counts live in Django's default cache: Redis in service mode, shared by every web process; the process's
memory in embedded mode, which has one web process. With the cache unreachable it fails open (logged): a Redis
outage must not stop terminals from working. The client address is `REMOTE_ADDR`, or the address
`API_NUM_PROXIES` trusted proxies in front put into X-Forwarded-For (DRF's `NUM_PROXIES`).
"""

from __future__ import annotations

import logging

from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger("pos.api.throttling")


class FailedCredentialsThrottle(SimpleRateThrottle):
    scope = "failed_credentials"

    def get_rate(self) -> str:
        return api_settings.DEFAULT_THROTTLE_RATES[self.scope]  # read now, not when the class was defined

    def get_cache_key(self, request, view=None) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

    def _load(self, request) -> None:
        self.key = self.get_cache_key(request)
        self.history = self.cache.get(self.key, [])
        self.now = self.timer()
        while self.history and self.history[-1] <= self.now - self.duration:
            self.history.pop()

    def refuse_if_blocked(self, request) -> None:
        """Raise Throttled (429 with Retry-After) while this address has too many recent failures. With the cache
        unreachable the count is unknown: requests go on (a Redis outage must not stop the restaurant)."""
        try:
            self._load(request)
        except Exception:  # the cache is down: fail open, and say so
            logger.warning("failed-credentials throttle unavailable (cache unreachable)", exc_info=True)
            return
        if len(self.history) >= self.num_requests:
            wait = self.wait()
            raise exceptions.Throttled(wait=max(1, int(wait or 1)),
                                       detail="Too many failed credentials from this address.")

    def record_failure(self, request, what: str) -> None:
        try:
            self._load(request)
            self.history.insert(0, self.now)
            self.cache.set(self.key, self.history, self.duration)
        except Exception:  # noqa: BLE001 - the cache is down: the failure is still logged below
            self.history = []
        logger.warning("failed credentials", extra={"client_address": self.get_ident(request), "credential": what,
                                                     "failures_in_window": len(self.history)})


def refuse_if_blocked(request) -> None:
    FailedCredentialsThrottle().refuse_if_blocked(request)


def record_failure(request, what: str) -> None:
    FailedCredentialsThrottle().record_failure(request, what)
