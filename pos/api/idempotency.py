"""The Idempotency-Key mechanism every POST endpoint uses.

- same key, same body: the stored response is replayed (header `Idempotent-Replayed: true`);
- same key, different body: 422;
- same key while the first request is still running: 409;
- keys are scoped per tenant and kept `IDEMPOTENCY_KEY_TTL_HOURS` (at least 24 h).

A request that died holding its key (its process killed, its connection lost) does not block the retry:
- on PostgreSQL the request holds a session advisory lock on the key (on the `default` connection) for as
  long as it runs; the server drops it the moment that connection goes away, so the next retry that gets
  the lock takes the key over at once;
- elsewhere (SQLite, embedded mode) the record names its holder (host, process id and the process's start
  time); a retry on the same host takes the key over as soon as that process is gone;
- otherwise (a holder on another host) the key is released after `IDEMPOTENCY_LOCK_SECONDS`.
Each holder writes its answer only under its own lock token, so a holder that was taken over never
overwrites its successor. Transient answers (409 conflicts, 429, 5xx) are not stored, so a retry runs
again; the services behind the endpoint are idempotent by the same key, so running again never doubles an
effect. For the same reason the record's writes do not wait for the disk (`pos.db.durability`): a record lost
to a crash of the database server only means a retry runs again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import re
import socket
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from pos.api.errors import problem, problem_response
from pos.db.durability import alone_without_waiting_for_the_disk, without_waiting_for_the_disk
from pos.db.hot import insert_statement, update_statement
from pos.models import IdempotencyRecord
from pos.tenancy import current_tenant_id

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_NOT_STORED = {401, 403, 409, 429}
DB = "default"
_LOCK_NAMESPACE = b"pos.idempotency\0"

logger = logging.getLogger("pos.idempotency")


def _process_start() -> str:
    """The process's start time in clock ticks since boot (Linux), telling a live process from a later one
    that reused its pid; empty where /proc is not available."""
    try:
        with open(f"/proc/{os.getpid()}/stat", "rb") as stat:
            return _start_of(stat.read())
    except OSError:
        return ""


def _start_of(stat: bytes) -> str:
    # Field 22; the command name (field 2) may hold spaces, so count from its closing parenthesis.
    return stat.rsplit(b")", 1)[1].split()[19].decode()


def holder_identity() -> str:
    return f"{socket.gethostname()} {os.getpid()} {_process_start()}"


def holder_is_gone(holder: str) -> bool:
    """True when `holder` (see `holder_identity`) names a process of this host that no longer runs."""
    try:
        host, pid_text, started = holder.split(" ", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != socket.gethostname() or not started:
        return False  # another machine's process: only its lock's expiry can tell
    if pid == os.getpid():
        return started != _process_start()
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return _start_of(stat.read()) != started
    except FileNotFoundError:
        return True
    except OSError:
        return False


def _lock_id(tenant_id, key: str) -> int:
    digest = hashlib.blake2b(_LOCK_NAMESPACE + str(tenant_id).encode() + b"\0" + key.encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


class _KeyLock:
    """A PostgreSQL session advisory lock on (tenant, key) held by this request's `default` connection: it
    lives exactly as long as the request's connection, so a killed request frees its key at once."""

    def __init__(self, tenant_id, key: str) -> None:
        self.lock_id = _lock_id(tenant_id, key)
        self.held = False

    @staticmethod
    def available() -> bool:
        return settings.IDEMPOTENCY_ADVISORY_LOCKS and connections[DB].vendor == "postgresql"

    def acquire(self) -> bool:
        with connections[DB].cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [self.lock_id])
            self.held = bool(cursor.fetchone()[0])
        return self.held

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        try:
            with connections[DB].cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.lock_id])
        except Exception:  # noqa: BLE001 - a lost connection has dropped the lock already
            logger.warning("idempotency key lock not released: its connection is gone")


def fingerprint(method: str, path: str, data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder, ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    body = json.loads(record.response_body) if record.response_body else None
    response = Response(body, status=record.response_status, headers={"Idempotent-Replayed": "true"})
    if record.response_status >= 400:
        response.content_type = "application/problem+json"
    return response


def _claim(tenant_id, key: str, method: str, path: str, digest: str, *, locked: bool
           ) -> tuple[IdempotencyRecord | None, Response | None]:
    """Create or take over the key's record for this request, or answer early (replay, 409, 422).
    `locked`: this request holds the key's advisory lock, so no live request holds the key."""
    now = timezone.now()
    lock = now + timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    expires = now + timedelta(hours=max(24, settings.IDEMPOTENCY_KEY_TTL_HOURS))
    mine = {"locked_until": lock, "lock_token": uuid.uuid4(), "holder": holder_identity()}
    record = IdempotencyRecord(tenant_id=tenant_id, key=key, method=method, path=path, fingerprint=digest,
                               expires_at=expires, **mine)
    try:
        _write_lazily(record)
        return record, None
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.using(DB).get(tenant_id=tenant_id, key=key)
    if record.expires_at <= now:
        # An expired key is a new key: take it over.
        taken = IdempotencyRecord.objects.using(DB).filter(pk=record.pk, expires_at=record.expires_at).update(
            method=method, path=path, fingerprint=digest, state=IdempotencyRecord.State.IN_PROGRESS,
            response_status=None, response_body="", expires_at=expires, **mine)
        if taken:
            record.refresh_from_db(using=DB)
            return record, None
        return None, _in_progress()
    if record.fingerprint != digest:
        return None, problem_response(problem(
            422, "Idempotency key reused", f"The Idempotency-Key {key!r} was already used for a different request.",
            "idempotency-key-reused"))
    if record.state == IdempotencyRecord.State.COMPLETED:
        return None, _replay(record)
    holder_gone = locked or holder_is_gone(record.holder)
    if record.locked_until > now and not holder_gone:
        return None, _in_progress()
    # The request that held the key died: the first retry to take it over runs again.
    taken = IdempotencyRecord.objects.using(DB).filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS, lock_token=record.lock_token,
        locked_until=record.locked_until,
    ).update(**mine)
    if taken:
        logger.warning("idempotency key taken over from a request that is gone",
                       extra={"idempotency_key": key, "previous_holder": record.holder,
                              "reason": "holder gone" if holder_gone else "lock expired"})
        record.refresh_from_db(using=DB)
        return record, None
    return None, _in_progress()


def _write_lazily(record: IdempotencyRecord) -> None:
    """Insert the new record in a transaction that does not wait for the disk: on PostgreSQL outside any
    transaction, the INSERT and its `SET LOCAL` in one round trip (else BEGIN, SET, INSERT, COMMIT). Raises
    IntegrityError for a key recorded before."""
    statement = insert_statement(record, using=DB)
    answered = alone_without_waiting_for_the_disk(DB, *statement) if statement is not None else None
    if answered is None:
        with transaction.atomic(using=DB):
            without_waiting_for_the_disk(DB)
            record.save(using=DB, force_insert=True)
        return
    ((record.pk,),) = answered
    record._state.adding, record._state.db = False, DB


def _finish_lazily(record: IdempotencyRecord, **values) -> None:
    """Store the response on the record while this request still holds it (its lock token), in a transaction
    that does not wait for the disk (one round trip on PostgreSQL outside any transaction)."""
    where = {"pk": record.pk, "lock_token": record.lock_token}
    statement = update_statement(IdempotencyRecord, where=where, values=values, using=DB)
    if statement is None or alone_without_waiting_for_the_disk(DB, *statement) is None:
        with transaction.atomic(using=DB):
            without_waiting_for_the_disk(DB)
            IdempotencyRecord.objects.using(DB).filter(**where).update(**values)


def _in_progress() -> Response:
    return problem_response(problem(
        409, "Request in progress", "A request with this Idempotency-Key is still being processed. Retry shortly.",
        "idempotency-key-in-progress"), headers={"Retry-After": "1"})


def idempotent(method):
    """Decorate a DRF view handler (e.g. `post`) to require and honour an Idempotency-Key."""

    @functools.wraps(method)
    def wrapper(view, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if not key:
            return problem_response(problem(400, "Idempotency-Key required",
                                            f"This request must carry an {HEADER} header so it is safe to retry.",
                                            "idempotency-key-required"))
        if not _KEY.match(key):
            return problem_response(problem(400, "Invalid Idempotency-Key",
                                            "The key must be 1 to 255 printable ASCII characters.",
                                            "idempotency-key-invalid"))
        tenant_id = current_tenant_id()
        digest = fingerprint(request.method, request.path, request.data)
        key_lock = _KeyLock(tenant_id, key) if _KeyLock.available() else None
        if key_lock is not None and not key_lock.acquire():
            return _in_progress()  # a live request holds the key
        try:
            return _run(view, request, args, kwargs, method, tenant_id, key, digest, locked=key_lock is not None)
        finally:
            if key_lock is not None:
                key_lock.release()

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


def _run(view, request, args, kwargs, method, tenant_id, key: str, digest: str, *, locked: bool):
    record, early = _claim(tenant_id, key, request.method, request.path, digest, locked=locked)
    if early is not None:
        return early
    request.idempotency_key = key
    try:
        response = method(view, request, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - rendered by DRF's handler, then stored or released
        response = view.handle_exception(exc)
    # Only while this request still holds the key: one that was taken over leaves the record to its successor.
    if response.status_code >= 500 or response.status_code in _NOT_STORED:
        IdempotencyRecord.objects.using(DB).filter(pk=record.pk, lock_token=record.lock_token).delete()
    else:
        body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False) if response.data is not None else ""
        _finish_lazily(record, state=IdempotencyRecord.State.COMPLETED, response_status=response.status_code,
                       response_body=body)
    return response


def purge_expired() -> int:
    deleted, _ = IdempotencyRecord.objects.using(DB).filter(expires_at__lte=timezone.now()).delete()
    return deleted


def idempotency_key_parameter():
    """The Idempotency-Key header as every idempotent endpoint documents it in the OpenAPI schema."""
    from drf_spectacular.utils import OpenApiParameter

    return OpenApiParameter(
        HEADER, str, OpenApiParameter.HEADER, required=True,
        description="Any unique string per intended write. A retry with the same key and body replays the first "
                    "answer and never repeats the effect; the same key with another body is 422.")


IDEMPOTENCY_KEY_PARAMETER = idempotency_key_parameter()
