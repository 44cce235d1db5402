"""A service-mode deployment on one machine, for the scale-out simulation and the fault suite: throw-away
PostgreSQL databases per module, gunicorn web processes, Celery workers and beat, optionally a redis-server of
its own (so a fault can stop it), commands and SQL against it, and an HTTP client for the terminal API.

Standard library only; the product runs from the project's virtualenv. Every process is started in a
session of its own, so a signal reaches its children (gunicorn's and Celery's workers) too."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
PG = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]
MODULES = {"accounts": "DATABASE_URL", "inventory": "DATABASE_URL_INVENTORY", "pos_core": "DATABASE_URL_POS_CORE",
           "payment": "DATABASE_URL_PAYMENT", "restaurant": "DATABASE_URL_RESTAURANT"}


class ClusterError(Exception):
    """The deployment could not be run (a process did not start, a command failed)."""


# --- commands, databases -------------------------------------------------------------------------------------

def run(command: list[str], *, env: dict | None = None, timeout: float = 120, check: bool = True
        ) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    if check and result.returncode != 0:
        raise ClusterError(f"`{' '.join(command)}` exited {result.returncode}:\n{result.stdout}{result.stderr}")
    return result


def manage(env: dict, *args: str, timeout: float = 180, check: bool = True) -> subprocess.CompletedProcess:
    return run([PYTHON, "manage.py", *args], env=env, timeout=timeout, check=check)


class Databases:
    """`<prefix>_<module>` PostgreSQL databases on 127.0.0.1:5432 (user postgres)."""

    def __init__(self, prefix: str) -> None:
        self.names = {module: f"{prefix}_{module}" for module in MODULES}

    def urls(self) -> dict[str, str]:
        return {variable: f"postgres://postgres@127.0.0.1:5432/{self.names[module]}"
                for module, variable in MODULES.items()}

    def drop(self) -> None:
        for name in self.names.values():
            run(["dropdb", *PG, "--if-exists", "--force", name], timeout=60, check=False)

    def create(self) -> None:
        self.drop()  # left over by a run that was killed
        for name in self.names.values():
            run(["createdb", *PG, name], timeout=60)

    def rows(self, module: str, sql: str) -> list[list[str]]:
        out = run(["psql", *PG, "-d", self.names[module], "-AtqX", "-v", "ON_ERROR_STOP=1", "-F", "\t", "-c", sql],
                  timeout=120)
        return [line.split("\t") for line in out.stdout.splitlines() if line]

    def value(self, module: str, sql: str) -> int:
        rows = self.rows(module, sql)
        return int(rows[0][0] or 0) if rows else 0

    def terminate_backends(self, *, exclude_application: str = "psql") -> int:
        """pg_terminate_backend on every backend of these databases (but our own psql): what a failover, a
        network cut or an operator's kill does to the web processes' and workers' connections."""
        names = ", ".join(f"'{n}'" for n in self.names.values())  # ours, not input
        sql = ("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname IN (" + names  # noqa: S608
               + f") AND pid <> pg_backend_pid() AND application_name <> '{exclude_application}'")
        out = run(["psql", *PG, "-d", "postgres", "-AtqX", "-c", sql], timeout=30, check=False)
        try:
            return int(out.stdout.strip() or 0)
        except ValueError:
            return 0


def service_env(databases: Databases, redis_url: str, var_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("DATABASE_URL", "CELERY_", "EVENTS_", "MONGODB_")) and k not in {"REDIS_URL"}}
    env.update(databases.urls())
    env.update({"REDIS_URL": redis_url, "POS_ENV": "development", "DJANGO_DEBUG": "false", "LOG_LEVEL": "WARNING",
                "POS_VAR_DIR": str(var_dir), "PYTHONUNBUFFERED": "1"})
    env.update(extra)
    return env


def redis_command(host: str, port: int, *args: str, timeout: float = 5) -> bytes:
    """One Redis command over a socket (RESP), answer's first line; no client library needed."""
    payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
    with socket.create_connection((host, port), timeout=timeout) as conn:
        conn.sendall(payload.encode())
        reply = b""
        while b"\r\n" not in reply:
            chunk = conn.recv(256)
            if not chunk:
                break
            reply += chunk
    return reply


def redis_flush(host: str, port: int, db: int) -> None:
    """FLUSHDB on one Redis database only."""
    with socket.create_connection((host, port), timeout=5) as conn:
        d = str(db)
        conn.sendall(f"*2\r\n$6\r\nSELECT\r\n${len(d)}\r\n{d}\r\n*1\r\n$7\r\nFLUSHDB\r\n".encode())
        reply = b""
        while reply.count(b"\r\n") < 2:
            chunk = conn.recv(64)
            if not chunk:
                break
            reply += chunk
        if not reply.startswith(b"+OK"):
            raise ClusterError(f"Redis refused FLUSHDB on database {db}: {reply!r}")


class RedisServer:
    """A redis-server of our own on a free port (no persistence), which a fault may stop and start."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_ports(1)[0]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = workdir
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        server = shutil.which("redis-server")
        if server is None:
            raise ClusterError("redis-server is not installed (apt-get install redis-server)")
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.workdir / "redis.log", "ab") as log:
            self.popen = subprocess.Popen(
                [server, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                 "--dir", str(self.workdir)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.ping():
            if time.monotonic() > deadline:
                raise ClusterError(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def ping(self) -> bool:
        try:
            return redis_command("127.0.0.1", self.port, "PING", timeout=0.5).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
        self.popen = None


# --- processes ----------------------------------------------------------------------------------------------

@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path
    command: list[str]


class Processes:
    def __init__(self, env: dict, log_dir: Path) -> None:
        self.env, self.log_dir, self.items = env, log_dir, []

    def start(self, name: str, command: list[str]) -> Process:
        log = self.log_dir / f"{name}.log"
        with open(log, "ab") as out:
            popen = subprocess.Popen(command, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        process = Process(name, popen, log, command)
        self.items = [p for p in self.items if p.name != name] + [process]
        return process

    def get(self, name: str) -> Process:
        return next(p for p in self.items if p.name == name)

    def web(self, name: str, port: int, *, workers: int = 1, threads: int = 1) -> Process:
        return self.start(name, [PYTHON, "-m", "gunicorn", "config.wsgi:application", "--workers", str(workers),
                                 "--threads", str(threads), "--bind", f"127.0.0.1:{port}", "--no-control-socket",
                                 "--timeout", "60", "--log-level", "warning"])

    def worker(self, name: str, *, concurrency: int = 1) -> Process:
        return self.start(f"worker-{name}", [PYTHON, "-m", "celery", "-A", "config", "worker", "--concurrency",
                                             str(concurrency), "-n", f"{name}@%h", "-l", "WARNING",
                                             "--without-gossip", "--without-mingle"])

    def beat(self, state_dir: Path) -> Process:
        return self.start("beat", [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "WARNING",
                                   "-s", str(state_dir / "celerybeat-schedule"), "--pidfile",
                                   str(state_dir / "beat.pid")])

    def check_alive(self) -> None:
        for process in self.items:
            if process.popen.poll() is not None:
                raise ClusterError(f"{process.name} exited with {process.popen.returncode}:\n{tail(process.log)}")

    def children(self, name: str) -> list[int]:
        """The pids of a process's children (gunicorn's or Celery's workers)."""
        parent = self.get(name).popen.pid
        pids = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_bytes()
                except OSError:
                    continue
                if int(stat.rsplit(b")", 1)[1].split()[1]) == parent:
                    pids.append(int(entry.name))
        return sorted(pids)

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything in its session at once, as a crash would."""
        process = self.get(name)
        if process.popen.poll() is None:
            try:
                os.killpg(process.popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.popen.wait(10)

    def restart(self, name: str) -> Process:
        process = self.get(name)
        return self.start(name, process.command)

    def stop_all(self) -> None:
        for process in self.items:  # each was started in its own session: signal its group (worker children too)
            if process.popen.poll() is None:
                try:
                    os.killpg(process.popen.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        deadline = time.monotonic() + 15
        for process in self.items:
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.popen.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.popen.wait(timeout=5)


def tail(path: Path, lines: int = 25) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def free_ports(count: int) -> list[int]:
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_ready(ports: list[int], processes: Processes, deadline: float) -> None:
    pending = set(ports)
    while pending:
        processes.check_alive()
        for port in list(pending):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as response:
                    if response.status == 200:
                        pending.discard(port)
            except (urllib.error.URLError, OSError):
                pass
        if pending and time.monotonic() > deadline:
            raise ClusterError(f"/readyz did not answer 200 on ports {sorted(pending)}")
        time.sleep(0.3)


# --- HTTP ---------------------------------------------------------------------------------------------------

@dataclass
class Answer:
    status: int
    body: dict | list | None
    replayed: bool
    seconds: float


def request(method: str, port: int, path: str, token: str, body: dict | None = None, key: str | None = None,
            timeout: float = 30) -> Answer:
    """One HTTP request to a web process. Raises OSError (URLError, TimeoutError, a reset) when no answer came."""
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    req.add_header("Authorization", f"Bearer {token}")
    req.add_header("Accept", "application/json")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key is not None:
        req.add_header("Idempotency-Key", key)
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:  # noqa: S310 (http://127.0.0.1 only)
            status, raw, headers = response.status, response.read(), response.headers
    except urllib.error.HTTPError as exc:
        status, raw, headers = exc.code, exc.read(), exc.headers
    elapsed = time.perf_counter() - started
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = {"raw": raw[:200].decode(errors="replace")}
    return Answer(status, parsed, (headers.get("Idempotent-Replayed") or "").lower() == "true", elapsed)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000 if ordered else 0.0
