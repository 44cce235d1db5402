"""Reads remembered for one unit of work (an order placement, a request): the same plain, immutable answer
(a frozen DTO) asked for again inside the scope is not read again. Outside a scope nothing is remembered, so
a long-lived process never serves a stale answer; inside one, the answer is as fresh as the scope is short.

    with memo_scope():
        accounts.get_tenant(t)   # read
        accounts.get_tenant(t)   # remembered

A read that answers more than its own question can leave the other answers too (`remember`, then `recall`):
inventory's product rows, read to price an order, are what selling its stock checks moments later. What is
remembered is only read, never changed, by whoever recalls it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Hashable, Iterator
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

_scope: ContextVar[dict[Hashable, object] | None] = ContextVar("pos_memo_scope", default=None)


@contextlib.contextmanager
def memo_scope() -> Iterator[None]:
    """Remember reads until the block ends (a scope already open is kept: its answers stay remembered)."""
    if _scope.get() is not None:
        yield
        return
    token = _scope.set({})
    try:
        yield
    finally:
        _scope.reset(token)


def memoized(key: Hashable, load: Callable[[], T]) -> T:
    """`load()`, or inside a scope the answer it gave for `key` before. Errors are not remembered."""
    scope = _scope.get()
    if scope is None:
        return load()
    if key not in scope:
        scope[key] = load()
    return scope[key]  # type: ignore[return-value]


def remember(key: Hashable, value: object) -> None:
    """Inside a scope, `value` is the answer for `key` from now on; outside one, nothing is kept."""
    scope = _scope.get()
    if scope is not None:
        scope[key] = value


def recall(key: Hashable) -> object | None:
    """What was remembered for `key` in this scope (`remember` or `memoized`), or None."""
    scope = _scope.get()
    return None if scope is None else scope.get(key)
