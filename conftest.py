"""Fixtures shared by every module's tests and the cross-module tests.

Tests that touch a database say which: `pytest.mark.django_db(databases="__all__")` (pytest-django only
swaps in test databases for the aliases a test asks for)."""

from __future__ import annotations

import contextlib
import itertools

import pytest
from rest_framework.test import APIClient

from pos import tenancy

_counter = itertools.count(1)


@pytest.fixture(autouse=True)
def _no_relay_state_leaks():
    """The relay's per-process memory (broker cool-down, last sweep) starts fresh in every test."""
    from pos.events import relay

    relay.reset_process_state()
    yield
    relay.reset_process_state()


@pytest.fixture(autouse=True)
def _no_throttle_leaks():
    """Failed-credential counts of the test client's address start at zero in every test."""
    from django.core.cache import cache

    from pos.api.throttling import FailedCredentialsThrottle

    keys = [FailedCredentialsThrottle.cache_format % {"scope": "failed_credentials", "ident": address}
            for address in ("127.0.0.1", "10.9.8.7")]
    cache.delete_many(keys)
    yield
    cache.delete_many(keys)


@pytest.fixture(autouse=True)
def _no_tenant_leaks():
    token = tenancy.activate(None)
    yield
    tenancy.deactivate(token)


def make_tenant(name: str | None = None, **fields):
    from modules.accounts import api as accounts

    n = next(_counter)
    return accounts.create_tenant(name=name or f"Restaurant {n}", slug=fields.pop("slug", f"r{n}"), **fields)


@contextlib.contextmanager
def statements_sent(alias: str):
    """The statement texts sent on `alias` inside the block (before psycopg binds the values), in order."""
    from django.db import connections

    seen: list[str] = []

    def record(execute, sql, params, many, context):
        seen.append(sql)
        return execute(sql, params, many, context)

    with connections[alias].execute_wrapper(record):
        yield seen


def make_terminal_client(tenant, role: str = "cashier", name: str | None = None) -> APIClient:
    from modules.accounts import api as accounts

    issued = accounts.create_terminal(tenant_id=tenant.id, name=name or f"T{next(_counter)}", role=role)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.token}")
    client.terminal = issued.terminal
    client.token = issued.token
    return client


# --- Lost connections and PostgreSQL-only tests ------------------------------------------------------------

def terminate_own_backend(alias: str):
    """An effect that kills this process's connection to `alias` from the server side (`pg_terminate_backend`),
    as a failover or an administrator would: the next query on it fails with a real lost connection."""

    def kill(_name: str = "") -> None:
        import psycopg
        from django.db import connections

        connection = connections[alias]
        connection.ensure_connection()
        pid = connection.connection.info.backend_pid
        db = connection.settings_dict
        with psycopg.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1",
                             port=db["PORT"] or 5432, password=db.get("PASSWORD") or None, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", [pid])

    return kill


@pytest.fixture
def postgres_only():
    """Skip unless the module databases are PostgreSQL: SQLite serialises every writer, so nothing races."""
    from django.db import connections

    if any(connections[alias].vendor != "postgresql" for alias in connections):
        pytest.skip("needs PostgreSQL module databases (row locks and real concurrent connections)")


@pytest.fixture
def tenant(db):
    return make_tenant("Shwe Mohinga")


@pytest.fixture
def other_tenant(db):
    return make_tenant("Golden Tea House")


@pytest.fixture
def api(tenant) -> APIClient:
    """A cashier terminal of `tenant`."""
    return make_terminal_client(tenant, "cashier")


@pytest.fixture
def manager_api(tenant) -> APIClient:
    return make_terminal_client(tenant, "manager")


@pytest.fixture
def other_api(other_tenant) -> APIClient:
    return make_terminal_client(other_tenant, "manager")


@pytest.fixture
def in_tenant(tenant):
    with tenancy.tenant_context(tenant.id):
        yield tenant


# --- Event backbone: in-process delivery, a private Redis and a real Celery worker -----------------------
# Service-mode tests that need the worker: `pytest.mark.django_db(transaction=True, databases="__all__")`
# and the `celery_worker` fixture (or `celery_worker_factory` for several workers, a private broker, extra
# environment). Outside service mode (PostgreSQL per module and REDIS_URL) these fixtures skip the test.


def _service_mode() -> bool:
    from django.conf import settings
    from django.db import connections

    return bool(settings.REDIS_URL) and all(connections[a].vendor == "postgresql" for a in settings.DATABASES)


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for(predicate, timeout: float, interval: float = 0.05, what: str = "condition"):
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:.0f}s waiting for {what}.")
        time.sleep(interval)


def at_once(count: int, fn, timeout: float = 120) -> list:
    """Run fn(0) .. fn(count - 1) in `count` threads released together (a barrier), for races that only a real
    database can referee. Returns each call's result or the exception it raised, in order; each thread closes its
    database connections when done."""
    import threading

    from django.db import connections

    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(index: int) -> None:
        try:
            barrier.wait()
            results[index] = fn(index)
        except BaseException as exc:  # noqa: BLE001 - the caller asserts on what each call raised
            results[index] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    assert not any(thread.is_alive() for thread in threads), f"a racing call did not finish within {timeout:.0f}s"
    return results


class PrivateRedis:
    """A redis-server of the test's own (a free port, no persistence) that the test may stop and start
    without disturbing anyone else's Redis."""

    def __init__(self, workdir) -> None:
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.process = None

    def start(self) -> None:
        import shutil
        import subprocess

        server = shutil.which("redis-server")
        if server is None:
            pytest.skip("redis-server is not installed")
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own server
            [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", str(self.workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_for(self.ping, 10, what=f"redis-server on port {self.port}")

    def ping(self) -> bool:
        import redis

        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.RedisError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        self.process = None


@pytest.fixture(scope="session", autouse=True)
def _celery_queue_of_this_run():
    """In service mode this test run sends its tasks to a queue of its own (its workers read it), deleted at the
    end: tasks that tests without a worker leave behind never reach another run's or a deployment's worker."""
    if not _service_mode():
        yield None
        return
    import os
    import uuid

    from config.celery import app

    name = f"pos-test-{uuid.uuid4().hex[:8]}"
    previous, old_queue = os.environ.get("CELERY_TASK_DEFAULT_QUEUE"), app.conf.task_default_queue
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = app.conf.task_default_queue = name
    try:
        yield name
    finally:
        _delete_queue(app, name)
        app.conf.task_default_queue = old_queue
        if previous is None:
            os.environ.pop("CELERY_TASK_DEFAULT_QUEUE", None)
        else:
            os.environ["CELERY_TASK_DEFAULT_QUEUE"] = previous


@pytest.fixture(autouse=True)
def _no_tasks_left_for_the_next_test(_celery_queue_of_this_run):
    """Tasks a test sent with no worker running name rows of databases flushed after it: emptied, so the next
    test's worker does not drain them first."""
    yield
    if _celery_queue_of_this_run is not None:
        from config.celery import app

        _delete_queue(app, _celery_queue_of_this_run, purge_only=True)


def _delete_queue(app, name: str, *, purge_only: bool = False) -> None:
    """Delete (or empty) a queue of the settings' broker, as Celery declares it (exchange and key named after it)."""
    from kombu import Exchange, Queue

    try:
        with app.connection_for_write() as connection:
            queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
            queue.declare()
            if purge_only:
                queue.purge()
            else:
                queue.delete()
    except Exception:  # noqa: BLE001, S110 - a broker that is down holds nothing to delete
        pass


@pytest.fixture
def private_redis(tmp_path):
    server = PrivateRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def use_broker():
    """`with use_broker(url):` publishes this process's Celery tasks to another broker for a while."""
    import contextlib

    from config.celery import app

    def reset() -> None:
        if app._pool is not None:
            app._pool.force_close_all()
            app._pool = None
        app.amqp._producer_pool = None

    @contextlib.contextmanager
    def switch(url: str):
        previous = app.conf.broker_url
        reset()
        app.conf.broker_url = url
        try:
            yield
        finally:
            reset()
            app.conf.broker_url = previous

    return switch


class CeleryWorker:
    """`celery -A config worker -B` in a subprocess of its own session, on the test databases."""

    def __init__(self, *, broker_url: str, env: dict, logfile) -> None:
        import uuid

        self.broker_url = broker_url
        self.env = env
        self.logfile = logfile
        self.name = f"pos-test-{uuid.uuid4().hex[:8]}@localhost"
        self.process = None

    def start(self, timeout: float = 60) -> CeleryWorker:
        import subprocess
        import sys

        from django.conf import settings

        with open(self.logfile, "ab") as log:
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own server
                [sys.executable, "-m", "celery", "-A", "config", "worker", "-B", "--pool", "prefork",
                 "--concurrency", "2", "-l", "INFO", "-n", self.name,
                 "--schedule", f"{self.logfile}.beat", "--without-gossip", "--without-mingle"],
                cwd=settings.BASE_DIR, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            _wait_for(lambda: self.process.poll() is not None or self.ping(), timeout, interval=0.2,
                      what="the Celery worker to answer ping")
            if self.process.poll() is not None:
                raise AssertionError(f"The Celery worker exited ({self.process.returncode}).")
        except AssertionError:
            self.stop()
            raise AssertionError(f"Celery worker did not start:\n{self.log_tail()}") from None
        return self

    def ping(self) -> bool:
        from config.celery import app

        with app.connection_for_write(self.broker_url) as connection:
            try:
                return bool(app.control.ping(destination=[self.name], timeout=0.5, connection=connection))
            except Exception:  # noqa: BLE001 - broker not reachable yet
                return False

    def log_tail(self, lines: int = 60) -> str:
        try:
            with open(self.logfile, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a crash would."""
        import os
        import signal

        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        import os
        import signal
        import subprocess

        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.kill()


def _worker_environment(broker_url: str, extra: dict) -> dict:
    import os
    from urllib.parse import quote

    from django.conf import settings
    from django.db import connections

    env = dict(os.environ)
    for alias in settings.DATABASES:
        db = connections[alias].settings_dict  # NAME is the test database's name by now
        auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
        url = f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        env["DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"] = url
    env.update({"POS_ENV": "test", "CELERY_BROKER_URL": broker_url, "EVENTS_IN_PROCESS": "false",
                "EVENTS_SWEEP_MS": "500", "EVENTS_SWEEP_GRACE_MS": "500",
                "EVENTS_REENQUEUE_MS": "5000", "PYTHONUNBUFFERED": "1"})
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture
def celery_worker_factory(request, tmp_path):
    """Start real workers: `start(broker_url=None, env={...})`. The default broker is the settings' one;
    every worker is stopped at the end of the test."""
    if not _service_mode():
        pytest.skip("needs service mode: PostgreSQL per module and REDIS_URL (a real worker and broker)")
    marker = request.node.get_closest_marker("django_db")
    if marker is None or not marker.kwargs.get("transaction"):
        pytest.fail("Tests with a real worker need django_db(transaction=True, databases='__all__'): "
                    "the worker only sees committed rows.")
    from django.conf import settings

    workers: list[CeleryWorker] = []

    def start(broker_url: str | None = None, env: dict | None = None) -> CeleryWorker:
        url = broker_url or settings.CELERY_BROKER_URL
        worker = CeleryWorker(broker_url=url, env=_worker_environment(url, env or {}),
                              logfile=tmp_path / f"worker-{len(workers) + 1}.log")
        workers.append(worker)
        return worker.start()

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def celery_worker(celery_worker_factory):
    """One real worker (with beat, so the periodic sweep runs) on the settings' broker."""
    return celery_worker_factory()


@pytest.fixture
def events_in_process(settings):
    """Deliver events in-process right after commit, whatever the mode (no worker needed)."""
    settings.EVENTS_IN_PROCESS = True
