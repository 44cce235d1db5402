"""Who operates the system (events, sagas, idempotency keys, provider simulation) as opposed to running a restaurant.

Operators are superusers or active staff in the "Operators" group. Managers run their restaurant and never see the
operator tools in the admin."""

from __future__ import annotations

OPERATORS_GROUP = "Operators"


def is_operator(user) -> bool:
    if not (user is not None and user.is_active and user.is_staff):
        return False
    if user.is_superuser:
        return True
    cached = getattr(user, "_pos_is_operator", None)
    if cached is None:
        cached = user.groups.filter(name=OPERATORS_GROUP).exists()
        user._pos_is_operator = cached
    return cached
