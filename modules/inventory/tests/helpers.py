"""Assertions shared by inventory tests."""

from __future__ import annotations

from django.db.models import Sum

from modules.inventory.models import Movement, StockItem
from pos.models import OutboxEvent
from pos.tenancy import all_tenants


def events(name: str, **payload) -> list[dict]:
    rows = OutboxEvent.objects.using("inventory").filter(name=name).order_by("created_at")
    return [row.payload for row in rows if all(row.payload.get(k) == v for k, v in payload.items())]


def assert_ledger_agrees() -> int:
    """Replay the ledger of every stock item and compare with its level; returns how many were checked."""
    with all_tenants():
        items = list(StockItem.objects.using("inventory").all())
        for item in items:
            movements = Movement.objects.using("inventory").filter(
                tenant_id=item.tenant_id, product_id=item.product_id, variant=item.variant)
            totals = movements.aggregate(on_hand=Sum("on_hand_delta"), reserved=Sum("reserved_delta"))
            assert (totals["on_hand"] or 0, totals["reserved"] or 0) == (item.on_hand, item.reserved), item
            # replaying in sequence order gives every intermediate level recorded
            on_hand = reserved = 0
            for number, movement in enumerate(movements.order_by("sequence"), start=1):
                on_hand += movement.on_hand_delta
                reserved += movement.reserved_delta
                assert movement.sequence == number
                assert (movement.on_hand_after, movement.reserved_after) == (on_hand, reserved)
                assert 0 <= reserved <= on_hand
            assert item.sequence == movements.count()
    return len(items)
