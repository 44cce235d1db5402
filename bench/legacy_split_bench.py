"""Benchmark: splitting a legacy shared database of 1,000,000 order lines on PostgreSQL.

For each size (default 250,000 and 1,000,000 order lines, one restaurant, 1-7 lines an order) it writes a legacy
database with `legacy_fixture`, creates fresh `bench_` module databases, runs `manage.py split_legacy` in a
child process and prints: wall time, order lines per second, orders per second, the child's peak memory (max
RSS) and the verification verdict. Memory must stay flat as the input grows (the split streams in batches): the
script exits non-zero if the larger run's peak RSS exceeds the smaller one's by more than 50%, or if a
verification fails. Needs service mode (DATABASE_URL* on PostgreSQL); every database it creates is dropped.

    source .env && .venv/bin/python bench/legacy_split_bench.py [--sizes 250000,1000000] [--batch 1000]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DJANGO_DEBUG", "false")  # measured as in production: DEBUG logs every query
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django

django.setup()

import psycopg  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connections  # noqa: E402

from bench import report  # noqa: E402
from bench.bench_databases import bench_databases  # noqa: E402
from ops.legacy.fixture import generate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def _url(db: dict, name: str) -> str:
    auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}"


def _admin(db: dict, sql: str) -> None:
    with psycopg.connect(_url(db, "postgres"), autocommit=True) as conn:
        conn.execute(sql)


def _child_env() -> dict:
    env = dict(os.environ)
    for alias in settings.DATABASES:
        db = connections[alias].settings_dict  # the bench_ database's name by now
        env["DATABASE_URL" if alias == "default" else f"DATABASE_URL_{alias.upper()}"] = _url(db, db["NAME"])
    env["LOG_LEVEL"] = "WARNING"
    return env


def run_size(lines: int, batch: int, workdir: Path) -> dict:
    default = settings.DATABASES["default"]
    legacy_name = f"bench_legacy_{os.getpid()}_{lines}"
    _admin(default, f'DROP DATABASE IF EXISTS "{legacy_name}"')
    _admin(default, f'CREATE DATABASE "{legacy_name}"')
    legacy_url = _url(default, legacy_name)
    try:
        started = time.monotonic()
        orders = lines // 4
        summary = generate(legacy_url, tenants=1, orders=orders, seed=14, lines=lines)
        generated = time.monotonic() - started
        with bench_databases():
            report = workdir / f"report-{lines}.txt"
            errors = workdir / f"progress-{lines}.txt"
            argv = [sys.executable, "manage.py", "split_legacy", "--source", legacy_url, "--batch", str(batch),
                    "--checkpoint", str(workdir / f"checkpoint-{lines}.json")]
            started = time.monotonic()
            with open(report, "w") as out, open(errors, "w") as err:
                child = subprocess.Popen(argv, cwd=ROOT, env=_child_env(), stdout=out, stderr=err)
                _, status, usage = os.wait4(child.pid, 0)
            elapsed = time.monotonic() - started
            child.returncode = os.waitstatus_to_exitcode(status)
            verdicts = ("Verification PASSED", "Verification FAILED")
            verdict = next((line.strip() for line in open(report) if line.startswith(verdicts)), "no verdict")
            return {"lines": summary.counts["order_lines"], "orders": summary.counts["orders"],
                    "payments": summary.counts["payments"], "generated_s": generated, "elapsed_s": elapsed,
                    "peak_mb": usage.ru_maxrss / 1024, "exit": child.returncode, "verdict": verdict,
                    "progress": open(errors).read().strip().splitlines()[-1:] or [""]}
    finally:
        connections.close_all()
        _admin(default, f'DROP DATABASE IF EXISTS "{legacy_name}"')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250000,1000000", help="Order-line counts, comma separated.")
    parser.add_argument("--batch", type=int, default=1000, help="Orders per batch.")
    args = parser.parse_args()
    if any(connections[alias].vendor != "postgresql" for alias in connections):
        print("Needs service mode: set DATABASE_URL and DATABASE_URL_<MODULE> to PostgreSQL (see .env.example).")
        return 2
    import tempfile

    sizes = [int(size) for size in args.sizes.split(",")]
    print(f"legacy split on PostgreSQL: sizes {', '.join(f'{s:,}' for s in sizes)} order lines, batch {args.batch} "
          f"orders, {os.cpu_count()} CPUs")
    results = []
    with tempfile.TemporaryDirectory(prefix="legacy-bench-") as workdir:
        for lines in sizes:
            result = run_size(lines, args.batch, Path(workdir))
            results.append(result)
            print(f"{result['lines']:>10,} lines {result['orders']:>8,} orders {result['payments']:>8,} payments | "
                  f"fixture {result['generated_s']:6.1f}s | split {result['elapsed_s']:7.1f}s "
                  f"{result['lines'] / result['elapsed_s']:>8,.0f} lines/s {result['orders'] / result['elapsed_s']:>7,.0f} "
                  f"orders/s | peak RSS {result['peak_mb']:6.1f} MB | exit {result['exit']} | {result['verdict'][:40]}")
            sys.stdout.flush()
            report.record("legacy_split_bench", f"split of {result['lines']:,} order lines",
                          result["lines"] / result["elapsed_s"], "lines/s")
            report.record("legacy_split_bench", f"split of {result['lines']:,} order lines: peak RSS",
                          result["peak_mb"], "MB")
    ok = all(r["exit"] == 0 for r in results)
    if len(results) > 1:
        growth = results[-1]["peak_mb"] / results[0]["peak_mb"]
        print(f"peak memory x{growth:.2f} for x{results[-1]['lines'] / results[0]['lines']:.1f} the input "
              f"({'flat' if growth <= 1.5 else 'GROWS'})")
        report.record("legacy_split_bench", "split peak memory, largest / smallest input", growth, "x",
                      target=("<=", 1.5))
        ok &= growth <= 1.5
    return 0 if ok else 1


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sys.exit(main())
