"""The Idempotency-Key mechanism every POST endpoint uses.

- same key, same body: the stored response is replayed (header `Idempotent-Replayed: true`);
- same key, different body: 422;
- same key while the first request is still running: 409;
- keys are scoped per tenant and kept `IDEMPOTENCY_KEY_TTL_HOURS` (at least 24 h).

A request that died holding its key releases it after `IDEMPOTENCY_LOCK_SECONDS`. Transient answers
(409 conflicts, 429, 5xx) are not stored, so a retry runs again; the services behind the endpoint are
idempotent by the same key, so running again never doubles an effect.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from rest_framework.response import Response
from rest_framework.utils.encoders import JSONEncoder

from pos.api.errors import problem, problem_response
from pos.models import IdempotencyRecord
from pos.tenancy import current_tenant_id

HEADER = "Idempotency-Key"
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
_NOT_STORED = {401, 403, 409, 429}
DB = "default"


def fingerprint(method: str, path: str, data: object) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), cls=JSONEncoder, ensure_ascii=False)
    return hashlib.sha256(f"{method} {path}\n{canonical}".encode()).hexdigest()


def _replay(record: IdempotencyRecord) -> Response:
    body = json.loads(record.response_body) if record.response_body else None
    response = Response(body, status=record.response_status, headers={"Idempotent-Replayed": "true"})
    if record.response_status >= 400:
        response.content_type = "application/problem+json"
    return response


def _claim(tenant_id, key: str, method: str, path: str, digest: str) -> tuple[IdempotencyRecord | None, Response | None]:
    now = timezone.now()
    lock = now + timedelta(seconds=settings.IDEMPOTENCY_LOCK_SECONDS)
    expires = now + timedelta(hours=max(24, settings.IDEMPOTENCY_KEY_TTL_HOURS))
    try:
        with transaction.atomic(using=DB):
            record = IdempotencyRecord.objects.using(DB).create(
                tenant_id=tenant_id, key=key, method=method, path=path, fingerprint=digest,
                locked_until=lock, expires_at=expires,
            )
        return record, None
    except IntegrityError:
        pass
    record = IdempotencyRecord.objects.using(DB).get(tenant_id=tenant_id, key=key)
    if record.expires_at <= now:
        # An expired key is a new key: take it over.
        taken = IdempotencyRecord.objects.using(DB).filter(pk=record.pk, expires_at=record.expires_at).update(
            method=method, path=path, fingerprint=digest, state=IdempotencyRecord.State.IN_PROGRESS,
            response_status=None, response_body="", locked_until=lock, expires_at=expires)
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
    if record.locked_until > now:
        return None, _in_progress()
    # The request that held the key died: the first retry to take the lock runs again.
    taken = IdempotencyRecord.objects.using(DB).filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS, locked_until=record.locked_until
    ).update(locked_until=lock)
    if taken:
        return record, None
    return None, _in_progress()


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
        record, early = _claim(tenant_id, key, request.method, request.path, digest)
        if early is not None:
            return early
        request.idempotency_key = key
        try:
            response = method(view, request, *args, **kwargs)
        except Exception as exc:  # noqa: BLE001 - rendered by DRF's handler, then stored or released
            response = view.handle_exception(exc)
        if response.status_code >= 500 or response.status_code in _NOT_STORED:
            IdempotencyRecord.objects.using(DB).filter(pk=record.pk).delete()
        else:
            body = json.dumps(response.data, cls=JSONEncoder, ensure_ascii=False) if response.data is not None else ""
            IdempotencyRecord.objects.using(DB).filter(pk=record.pk).update(
                state=IdempotencyRecord.State.COMPLETED, response_status=response.status_code, response_body=body)
        return response

    wrapper.idempotent = True  # type: ignore[attr-defined]
    return wrapper


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
