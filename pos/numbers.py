"""The one integer check of the code base."""

from __future__ import annotations


def is_integer(value: object) -> bool:
    """An integer that is not a boolean: Python counts True as 1, but it is never a quantity or an amount."""
    return isinstance(value, int) and not isinstance(value, bool)
