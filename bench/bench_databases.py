"""Throw-away databases for a benchmark: `bench_<name>` beside each configured one (a SQLite file next to
it, or a PostgreSQL database on the same server), created and migrated on entry, dropped on exit. A benchmark
never writes into the data it is pointed at. Its tasks go to a broker queue of its own, deleted on exit too
(bench/broker.py)."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from django.db import connections
from django.test.utils import setup_databases, teardown_databases

try:
    from bench.broker import private_queue
except ImportError:  # run with bench/ itself on sys.path
    from broker import private_queue


def _use_bench_names() -> None:
    for alias in connections:
        config = connections[alias].settings_dict
        test = config.setdefault("TEST", {})
        if config["ENGINE"].endswith("sqlite3"):
            path = Path(config["NAME"])
            test["NAME"] = str(path.with_name(f"bench_{path.name}"))
        else:
            test["NAME"] = f"bench_{config['NAME']}"


@contextlib.contextmanager
def bench_databases() -> Iterator[None]:
    _use_bench_names()
    with private_queue(Path(sys.argv[0]).stem or "bench"):
        old = setup_databases(verbosity=0, interactive=False, aliases=list(connections))
        try:
            yield
        finally:
            connections.close_all()
            teardown_databases(old, verbosity=0)
