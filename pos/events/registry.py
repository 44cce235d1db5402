"""Who listens to what. A consuming module declares its handlers in its `handlers.py`:

    @subscribe("inventory.stock_changed", using="pos_core")
    def refresh_stock_cache(envelope: Envelope) -> None: ...

Each delivery runs inside `transaction.atomic(using=<using>)`, with the event's tenant in scope and the
(handler, event id) pair recorded in that database's inbox in the same transaction."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from pos.contracts import REGISTRY, SchemaError


@dataclass(frozen=True)
class Subscription:
    event_name: str
    handler_name: str  # "<module>.<function>", the inbox key
    using: str  # the consumer's database alias
    fn: Callable


SUBSCRIPTIONS: dict[str, list[Subscription]] = {}


def subscribe(event_name: str, *, using: str, name: str | None = None) -> Callable[[Callable], Callable]:
    def decorate(fn: Callable) -> Callable:
        if event_name not in REGISTRY:
            raise SchemaError(f"Cannot subscribe to undeclared event {event_name!r}.")
        module = fn.__module__.split(".")[1] if fn.__module__.startswith("modules.") else fn.__module__
        handler_name = name or f"{module}.{fn.__name__}"
        subs = SUBSCRIPTIONS.setdefault(event_name, [])
        if not any(s.handler_name == handler_name for s in subs):
            subs.append(Subscription(event_name, handler_name, using, fn))
        return fn

    return decorate


def subscriptions_for(event_name: str) -> list[Subscription]:
    return list(SUBSCRIPTIONS.get(event_name, []))
