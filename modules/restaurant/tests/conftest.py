"""Fixtures of the restaurant tests: products come from inventory through its api, never its models."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from modules.inventory import api as inventory
from pos.models import OutboxEvent

_n = itertools.count(1)


class Catalog:
    def add(self, tenant, name: str | None = None, *, price: int = 3000, active: bool = True, **fields) -> str:
        label = name or f"Dish {next(_n)}"
        product = inventory.create_product(tenant_id=tenant.id, names={"en": label, "my": f"{label} (my)"},
                                           price=price, is_active=active, **fields)
        return product.id

    def deactivate(self, tenant, product_id: str) -> None:
        product = inventory.get_products(tenant_id=tenant.id, product_ids=[product_id])[product_id]
        inventory.update_product(tenant_id=tenant.id, product_id=product_id, expected_version=product.version,
                                 changes={"is_active": False})


@pytest.fixture
def catalog() -> Catalog:
    return Catalog()


def restaurant_events(name: str) -> list[dict]:
    """Payloads of events restaurant recorded in its outbox, oldest first."""
    return [row.payload for row in OutboxEvent.objects.using("restaurant").filter(name=name).order_by("created_at")]


@contextmanager
def count_queries() -> Iterator[dict[str, CaptureQueriesContext]]:
    """Queries per database alias while the block runs."""
    contexts = {alias: CaptureQueriesContext(connections[alias]) for alias in connections}
    with ExitStack() as stack:
        for context in contexts.values():
            stack.enter_context(context)
        yield contexts


def totals(contexts: dict[str, CaptureQueriesContext]) -> dict[str, int]:
    return {alias: len(context.captured_queries) for alias, context in contexts.items()}
