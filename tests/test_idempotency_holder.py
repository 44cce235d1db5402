"""A request that died holding its Idempotency-Key (its process SIGKILLed mid-request) does not block the
retry: the key is taken over as soon as its holder is gone, not after IDEMPOTENCY_LOCK_SECONDS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connections
from django.utils import timezone

from conftest import _wait_for, make_terminal_client
from pos.api import idempotency
from pos.models import IdempotencyRecord
from tests import kernel_urls

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.urls("tests.kernel_urls")]


@pytest.fixture(autouse=True)
def _reset_calls():
    kernel_urls.calls.clear()
    kernel_urls.gate.clear()
    yield
    kernel_urls.gate.set()

# The holder: a process of its own on the test databases, stuck inside the slow endpoint until it is killed.
HOLDER = """
import django, sys
django.setup()
from django.conf import settings
settings.ROOT_URLCONF = "tests.kernel_urls"
settings.ALLOWED_HOSTS = ["*"]
from rest_framework.test import APIClient
from tests import kernel_urls
kernel_urls.gate.wait = lambda timeout=None: __import__("time").sleep(3600)
client = APIClient()
client.credentials(HTTP_AUTHORIZATION="Bearer " + sys.argv[1])
client.post("/api/v1/test/slow", {}, format="json", HTTP_IDEMPOTENCY_KEY=sys.argv[2])
"""


def _database_environment() -> dict:
    env = dict(os.environ)
    for alias in settings.DATABASES:
        db = connections[alias].settings_dict  # the test database by now
        if db["ENGINE"].endswith("sqlite3"):
            url = f"sqlite:///{db['NAME']}"
        else:
            url = f"postgres://{db['USER'] or 'postgres'}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env["DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"] = url
    # Long enough that only the holder's death, not the lock's expiry, can free the key during the test.
    env.update({"IDEMPOTENCY_LOCK_SECONDS": "600", "DJANGO_SETTINGS_MODULE": "config.settings",
                "PYTHONUNBUFFERED": "1"})
    return env


def test_a_key_held_by_a_killed_process_is_taken_over_at_once(tenant, tmp_path):
    client = make_terminal_client(tenant)
    log = tmp_path / "holder.log"
    with open(log, "wb") as out:
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, client.token, "killed-mid-request"],
                                  cwd=settings.BASE_DIR, env=_database_environment(), stdout=out,
                                  stderr=subprocess.STDOUT)
    try:
        record = _wait_for(lambda: IdempotencyRecord.objects.filter(key="killed-mid-request").first(), 60,
                           interval=0.1, what="the holder to claim the key")
        assert record.state == "in_progress" and record.locked_until > timezone.now() + timedelta(seconds=500)
        assert record.holder.split(" ")[1] == str(holder.pid)
        # While the holder lives, a retry is told the request is in progress.
        busy = client.post("/api/v1/test/slow", {}, format="json", HTTP_IDEMPOTENCY_KEY="killed-mid-request")
        assert busy.status_code == 409, busy.json()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
    kernel_urls.gate.set()
    killed_at = time.monotonic()
    # The retry proceeds as soon as the server has seen the holder's connection close (milliseconds).
    while True:
        retry = client.post("/api/v1/test/slow", {}, format="json", HTTP_IDEMPOTENCY_KEY="killed-mid-request")
        if retry.status_code != 409 or time.monotonic() - killed_at > 5:
            break
        time.sleep(0.05)
    assert retry.status_code == 201, log.read_text()
    assert time.monotonic() - killed_at < 5
    assert len(kernel_urls.calls) == 1
    done = IdempotencyRecord.objects.get(key="killed-mid-request")
    assert done.state == "completed" and done.lock_token != record.lock_token
    # And the answer is kept for the next retry.
    again = client.post("/api/v1/test/slow", {}, format="json", HTTP_IDEMPOTENCY_KEY="killed-mid-request")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"


def test_a_holder_that_was_taken_over_cannot_write_its_answer(tenant):
    client = make_terminal_client(tenant)
    digest = idempotency.fingerprint("POST", "/api/v1/test/echo", {"quantity": 1, "name": "a"})
    stale = IdempotencyRecord.objects.create(
        tenant_id=tenant.id, key="stale", method="POST", path="/api/v1/test/echo", fingerprint=digest,
        holder="elsewhere 1 1", lock_token=__import__("uuid").uuid4(),
        locked_until=timezone.now() - timedelta(seconds=1), expires_at=timezone.now() + timedelta(hours=24))
    response = client.post("/api/v1/test/echo", {"quantity": 1, "name": "a"}, format="json",
                           HTTP_IDEMPOTENCY_KEY="stale")
    assert response.status_code == 201
    # The first holder, finishing late, writes under its own token and so changes nothing.
    assert IdempotencyRecord.objects.filter(pk=stale.pk, lock_token=stale.lock_token).update(
        response_status=500) == 0
    assert IdempotencyRecord.objects.get(pk=stale.pk).response_status == 201


def test_holder_liveness_is_read_from_the_process_table():
    me = idempotency.holder_identity()
    assert not idempotency.holder_is_gone(me)
    host, pid, started = me.split(" ")
    assert not idempotency.holder_is_gone(f"another-host {pid} {started}")  # cannot tell: wait for the lock
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    assert idempotency.holder_is_gone(f"{host} {child.pid} 1")
    assert idempotency.holder_is_gone(f"{host} {pid} {int(started) + 1}")  # the pid now names another process
    assert not idempotency.holder_is_gone("")
