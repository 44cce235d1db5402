"""Errors the caller can act on. Services raise these; the API edge maps them to RFC 9457 problems.

A module subclasses `DomainError` with its own `type` slug, HTTP `status` and `title`, and puts whatever
the caller needs to recover (failing lines, current levels) in `extra`.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status: int = 400
    type: str = "about:blank"
    title: str = "Bad request"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)


class NotFound(DomainError):
    status = 404
    type = "not-found"
    title = "Not found"


class Conflict(DomainError):
    status = 409
    type = "conflict"
    title = "Conflict"


class StaleVersion(Conflict):
    type = "stale-version"
    title = "The resource was changed by someone else"


class InvalidInput(DomainError):
    status = 400
    type = "invalid-input"
    title = "Invalid input"


class Unprocessable(DomainError):
    status = 422
    type = "unprocessable"
    title = "Request cannot be processed"


class Forbidden(DomainError):
    status = 403
    type = "forbidden"
    title = "Forbidden"
