"""Benchmark: module databases on two PostgreSQL servers, against all of them on one.

It creates a second PostgreSQL cluster on this machine (`pg_createcluster <version> <name> -p <free port>`, the
version `pg_lsclusters` lists; listening on localhost only, trust authentication; started), points inventory and
payment at it and leaves accounts, pos_core and restaurant on the configured server, then runs the order benchmark
(bench/order_bench.py, in a child process) once with every module on the configured server and once split across
the two, and prints both and the ratio of the split run's throughput and latency to the one-server run's.
With `--suite` it also runs the service-mode test suite against the split servers. The cluster is stopped and
dropped at the end (`pg_dropcluster --stop`), whatever happens; every database the order bench creates is dropped
by it.

    source .env && .venv/bin/python bench/two_servers_bench.py [--terminals 8] [--orders 25] [--suite]

Needs service mode (DATABASE_URL* on PostgreSQL on this machine, REDIS_URL), root or the postgres user's rights
to run pg_createcluster, and the postgresql-common tools.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable
SECOND = {"DATABASE_URL_INVENTORY", "DATABASE_URL_PAYMENT"}  # what moves to the second server
MODULE_URLS = ["DATABASE_URL", "DATABASE_URL_INVENTORY", "DATABASE_URL_POS_CORE", "DATABASE_URL_PAYMENT",
               "DATABASE_URL_RESTAURANT"]
SAGA_LINE = re.compile(r"saga, (\d+) terminals\s+(\d+) orders\s+([\d.]+) orders/s\s+p50\s+([\d.]+) ms\s+p99\s+([\d.]+) ms")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--terminals", type=int, default=8)
    parser.add_argument("--orders", type=int, default=25, help="Orders per terminal.")
    parser.add_argument("--suite", action="store_true", help="Also run the service-mode test suite split.")
    parser.add_argument("--suite-args", default="-q -p no:cacheprovider", help="pytest arguments for --suite.")
    return parser.parse_args()


def run(command: list[str], *, timeout: float = 120, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise SystemExit(f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SecondServer:
    """A PostgreSQL cluster of the benchmark's own: created and started on entry, stopped and dropped on exit."""

    def __init__(self) -> None:
        clusters = run(["pg_lsclusters", "--no-header"]).stdout.split()
        if not clusters:
            raise SystemExit("pg_lsclusters lists no cluster: is PostgreSQL installed?")
        self.version = clusters[0]
        self.name = f"bench_{uuid.uuid4().hex[:8]}"
        self.port = free_port()

    def __enter__(self) -> SecondServer:
        for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster"):
            if shutil.which(tool) is None:
                raise SystemExit(f"{tool} not found: the postgresql-common tools are needed")
        run(["pg_createcluster", self.version, self.name, "-p", str(self.port), "--start-conf", "manual",
             "-o", "max_connections=200",
             "--", "--auth=trust"], timeout=180)
        try:
            run(["pg_ctlcluster", self.version, self.name, "start"], timeout=120)
            deadline = time.monotonic() + 30
            while run(["pg_isready", "-h", "127.0.0.1", "-p", str(self.port)], check=False).returncode != 0:
                if time.monotonic() > deadline:
                    raise SystemExit(f"the second cluster did not accept connections on port {self.port}")
                time.sleep(0.2)
        except BaseException:
            self.drop()
            raise
        print(f"second server: PostgreSQL {self.version} cluster {self.name} on 127.0.0.1:{self.port}", flush=True)
        return self

    def __exit__(self, *exc) -> None:
        self.drop()

    def drop(self) -> None:
        result = run(["pg_dropcluster", "--stop", self.version, self.name], timeout=180, check=False)
        left = self.name in run(["pg_lsclusters", "--no-header"], check=False).stdout
        print(f"second server: cluster {self.name} dropped" if not left else
              f"second server: could NOT drop cluster {self.name}: {result.stderr.strip()}", flush=True)


def split_env(port: int) -> dict[str, str]:
    """The configured environment with inventory's and payment's URLs on 127.0.0.1:<port> (same names)."""
    env = dict(os.environ)
    for name in SECOND:
        parts = urlsplit(env[name])
        env[name] = urlunsplit(parts._replace(netloc=f"{parts.username or 'postgres'}@127.0.0.1:{port}"))
    return env


def order_bench(env: dict[str, str], args: argparse.Namespace, label: str) -> dict[str, float]:
    """Runs bench/order_bench.py; its saga figures: orders/s, p50 and p99 (ms)."""
    with tempfile.TemporaryDirectory(prefix="two-servers-") as workdir:
        child_env = {**env, "BENCH_RUN": f"two-servers-{label}-{uuid.uuid4().hex[:6]}",
                     "BENCH_CSV": str(Path(workdir) / "figures.csv"), "LOG_LEVEL": "WARNING"}
        started = time.monotonic()
        result = subprocess.run([PYTHON, "bench/order_bench.py", "--terminals", str(args.terminals), "--orders",
                                 str(args.orders)], cwd=ROOT, env=child_env, capture_output=True, text=True,
                                timeout=1800)
        output = "\n".join(line for line in result.stdout.splitlines() if not line.startswith("{"))
        print(f"\n-- order bench, {label} ({time.monotonic() - started:.0f} s, exit {result.returncode}):\n{output}",
              flush=True)
        if result.returncode != 0:
            print(result.stderr[-3000:])
            raise SystemExit(f"the order bench failed on {label}")
        found = SAGA_LINE.search(result.stdout)
        if found is None:
            raise SystemExit(f"no saga figures in the order bench's output ({label})")
        errors = re.search(r"saga, \d+ terminals.*errors (\d+)", result.stdout)
        return {"orders/s": float(found.group(3)), "p50": float(found.group(4)), "p99": float(found.group(5)),
                "errors": float(errors.group(1)) if errors else 0.0}


def run_suite(env: dict[str, str], pytest_args: str) -> int:
    print(f"\n-- service-mode test suite, inventory and payment on the second server: pytest {pytest_args}", flush=True)
    started = time.monotonic()
    created = []  # the module databases migrate_all expects: made if missing, dropped at the end
    for name in MODULE_URLS:
        url = urlsplit(env[name])
        server = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
        if run(["createdb", *server, url.path.lstrip("/")], timeout=60, check=False).returncode == 0:
            created.append((server, url.path.lstrip("/")))
    try:
        return _suite(env, pytest_args, started)
    finally:
        for server, database in created:
            run(["dropdb", *server, "--if-exists", "--force", database], timeout=60, check=False)


def _suite(env: dict[str, str], pytest_args: str, started: float) -> int:
    migrate = subprocess.run([PYTHON, "manage.py", "migrate_all"], cwd=ROOT, env=env, capture_output=True, text=True,
                             timeout=600)
    if migrate.returncode != 0:
        print(migrate.stdout[-2000:], migrate.stderr[-2000:])
        return migrate.returncode
    result = subprocess.run([PYTHON, "-m", "pytest", *pytest_args.split()], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=3600)
    tail = [line for line in result.stdout.splitlines() if line.strip()][-15:]
    print("\n".join(tail))
    print(f"   suite exit {result.returncode} in {time.monotonic() - started:.0f} s", flush=True)
    return result.returncode


def main() -> int:
    args = parse_args()
    missing = [name for name in MODULE_URLS if not os.environ.get(name, "").startswith(("postgres", "pgsql"))]
    if missing or not os.environ.get("REDIS_URL"):
        print("two_servers_bench: needs service mode (DATABASE_URL and DATABASE_URL_<MODULE> on PostgreSQL, "
              f"REDIS_URL); missing: {', '.join(missing) or 'REDIS_URL'}. Nothing measured.")
        return 2
    from bench import report

    one = order_bench(dict(os.environ), args, "one server")
    with SecondServer() as second:
        env = split_env(second.port)
        split = order_bench(env, args, f"inventory and payment on 127.0.0.1:{second.port}")
        suite = run_suite(env, args.suite_args) if args.suite else None

    print(f"\nmodule databases on two servers against one ({args.terminals} terminals x {args.orders} orders, saga):")
    print(f"{'':<14}{'one server':>12}{'two servers':>13}{'ratio':>8}")
    for key, unit in (("orders/s", "/s"), ("p50", "ms"), ("p99", "ms")):
        value = report.ratio(split[key], one[key])
        print(f"{key:<14}{one[key]:>12.1f}{split[key]:>13.1f}{value:>7.2f}x")
        report.record("two_servers_bench", f"order saga {key}, two servers", split[key], unit)
        report.record("two_servers_bench", f"order saga {key}: two servers / one", value, "x",
                      target=(">=", 0.5) if key == "orders/s" else None)
    report.record("two_servers_bench", "order saga errors, two servers", split["errors"], target=("==", 0))
    if suite is not None:
        report.record("two_servers_bench", "service-mode suite exit status, two servers", suite, target=("==", 0))
    return 0 if split["errors"] == 0 and not suite else 1


if __name__ == "__main__":
    sys.exit(main())
