"""Structured logs: one JSON object a line, carrying the tenant, request and saga ids of the context."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

_fields: ContextVar[dict[str, Any]] = ContextVar("pos_log_fields", default={})  # noqa: B039 - never mutated


def bind(**fields: Any) -> Any:
    return _fields.set({**_fields.get(), **{k: str(v) for k, v in fields.items() if v is not None}})


def unbind(token: Any) -> None:
    _fields.reset(token)


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    token = bind(**fields)
    try:
        yield
    finally:
        unbind(token)


def context_fields() -> dict[str, Any]:
    return dict(_fields.get())


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        from pos.tenancy import ALL_TENANTS, current_scope

        for key, value in _fields.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        scope = current_scope()
        if not hasattr(record, "tenant_id") and scope is not None and scope is not ALL_TENANTS:
            record.tenant_id = str(scope)
        return True


_STANDARD = set(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                payload[key] = value if isinstance(value, (str, int, bool, type(None))) else str(value)
        if record.exc_info:
            payload["exc"] = self.formatException(record.exc_info)
        return json.dumps(payload, ensure_ascii=False)
