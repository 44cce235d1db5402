"""Event schemas: the neutral ground every module may read. This package imports no module.

An event is a frozen dataclass decorated with `@event("<module>.<fact>", version=N)`. Constructing one
checks every field against its annotation, so a payload that does not match its schema fails at once.
Subscribers read the same class, so a consumer never imports its publisher.
"""

from __future__ import annotations

import dataclasses
import types
import typing
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pos.numbers import is_integer

T = TypeVar("T")
REGISTRY: dict[str, type] = {}


class SchemaError(TypeError):
    pass


def _matches(value: Any, annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if annotation is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(annotation))
    if annotation is type(None) or annotation is None:
        return value is None
    if origin is list:
        (item,) = typing.get_args(annotation) or (Any,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if origin is dict:
        key, item = typing.get_args(annotation) or (Any, Any)
        return isinstance(value, dict) and all(_matches(k, key) and _matches(v, item) for k, v in value.items())
    if annotation is int:
        return is_integer(value)
    if annotation is float:
        raise SchemaError("float is not allowed in event schemas; use integer minor units")
    if isinstance(annotation, type):
        return isinstance(value, annotation)
    return True


def event(name: str, version: int = 1) -> Callable[[type[T]], type[T]]:
    def decorate(cls: type[T]) -> type[T]:
        if name in REGISTRY:
            raise SchemaError(f"Event {name!r} is declared twice.")
        hints = typing.get_type_hints(cls)

        def __post_init__(self) -> None:  # noqa: N807
            for field in dataclasses.fields(self):
                value = getattr(self, field.name)
                if not _matches(value, hints[field.name]):
                    raise SchemaError(f"{name}: field {field.name!r}={value!r} does not match {hints[field.name]}.")

        # Before the dataclass is made: its __init__ calls __post_init__ only if the class has one by then.
        cls.__post_init__ = __post_init__  # type: ignore[attr-defined]
        cls = dataclasses.dataclass(frozen=True, kw_only=True)(cls)
        cls.event_name = name  # type: ignore[attr-defined]
        cls.event_version = version  # type: ignore[attr-defined]
        REGISTRY[name] = cls
        return cls

    return decorate


def schema_for(name: str) -> type:
    try:
        return REGISTRY[name]
    except KeyError:
        raise SchemaError(f"Unknown event {name!r}.") from None


def to_payload(instance: Any) -> dict[str, Any]:
    if type(instance).__dict__.get("event_name") is None or REGISTRY.get(instance.event_name) is not type(instance):
        raise SchemaError(f"{type(instance).__name__} is not a declared event.")
    return dataclasses.asdict(instance)


@dataclasses.dataclass(frozen=True)
class Envelope:
    """What a handler receives: the event's identity and its typed payload."""

    id: uuid.UUID
    name: str
    version: int
    tenant_id: uuid.UUID
    occurred_at: datetime
    payload: Any
