"""A Celery queue of a benchmark's own on the configured broker, deleted at the end.

A benchmark that publishes events in service mode sends `pos.events.deliver` tasks; with no worker reading
them (most benchmarks run none) they would stay in the shared queue, and the next worker to start (a test
run's, another benchmark's) would first drain thousands of stale tasks. So every benchmark sends to
`bench-<label>-<random>` (CELERY_TASK_DEFAULT_QUEUE, which its own workers and child processes inherit through
the environment) and deletes that queue when it ends, tasks and all."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator


def _app():
    from config.celery import app

    return app


def delete_queue(name: str) -> int:
    """Delete `name` (its tasks and its binding) from the configured broker. Returns how many tasks it held."""
    from kombu import Exchange, Queue

    app = _app()
    if app.conf.broker_url.startswith("memory://"):
        return 0
    with app.connection_for_write() as connection:
        # As Celery declares its default queue (exchange and routing key named after it), so the binding is known
        # to this channel and deleted with the queue.
        queue = Queue(name, Exchange(name, type="direct"), routing_key=name)(connection.default_channel)
        queue.declare()
        try:
            held = queue.queue_declare(passive=True).message_count
        except Exception:  # Redis keeps no empty list: a queue that holds nothing is not found
            held = 0
        queue.delete()
        return held


@contextlib.contextmanager
def private_queue(label: str) -> Iterator[str]:
    """Send this process's tasks (and its children's) to a queue of its own while inside; delete it at the end.
    Call before anything is sent (Celery reads the default queue at the first send)."""
    name = f"bench-{label}-{uuid.uuid4().hex[:8]}"
    previous = os.environ.get("CELERY_TASK_DEFAULT_QUEUE")
    os.environ["CELERY_TASK_DEFAULT_QUEUE"] = name
    app = _app()
    old_queue = app.conf.task_default_queue
    app.conf.task_default_queue = name
    try:
        yield name
    finally:
        try:
            left = delete_queue(name)
            if left:
                print(f"   (deleted the benchmark's queue {name} with {left} task(s) no worker ran)")
        finally:
            app.conf.task_default_queue = old_queue
            if previous is None:
                os.environ.pop("CELERY_TASK_DEFAULT_QUEUE", None)
            else:
                os.environ["CELERY_TASK_DEFAULT_QUEUE"] = previous
