"""Fixtures for pos_core's tests: a small bilingual catalog with stock, through inventory's api."""

from __future__ import annotations

import itertools

import pytest

from modules.inventory import api as inventory
from modules.restaurant import api as restaurant

_keys = itertools.count(1)


def new_key() -> str:
    return f"order-key-{next(_keys)}"


def receive(tenant_id, product_id: str, quantity: int, variant: str | None = None) -> None:
    inventory.adjust_stock(tenant_id=tenant_id, product_id=product_id, variant=variant, kind="receive",
                           quantity=quantity, reason="delivery", actor="test")


def make_catalog(tenant_id, *, stock: int = 10) -> dict[str, str]:
    inventory.create_category(tenant_id=tenant_id, names={"en": "Noodles", "my": "ခေါက်ဆွဲ"}, category_id="noodles")
    inventory.create_product(
        tenant_id=tenant_id, product_id="mohinga", names={"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}, price=3000,
        category_id="noodles", threshold=3,
        option_groups=[{"key": "extras", "names": {"en": "Extras", "my": "အပို"}, "min_select": 0, "max_select": 2,
                        "choices": [{"key": "egg", "names": {"en": "Egg", "my": "ဥ"}, "price_delta": 500},
                                    {"key": "fritter", "names": {"en": "Fritter", "my": "အကြော်"}, "price_delta": 300}]}])
    inventory.create_product(
        tenant_id=tenant_id, product_id="tea", names={"en": "Tea", "my": "လက်ဖက်ရည်"}, price=1000, threshold=2,
        variants=[{"key": "small", "names": {"en": "Small", "my": "သေး"}, "price": 1000},
                  {"key": "large", "names": {"en": "Large", "my": "ကြီး"}, "price": 1500}])
    receive(tenant_id, "mohinga", stock)
    receive(tenant_id, "tea", stock, "small")
    receive(tenant_id, "tea", stock, "large")
    return {"mohinga": "mohinga", "tea": "tea"}


def available(tenant_id, product_id: str, variant: str | None = None) -> int:
    levels = inventory.get_stock_levels(tenant_id=tenant_id, items=[(product_id, variant)])
    return levels[(product_id, variant)].available


def order_body(**overrides):
    body = {"items": [{"product_id": "mohinga", "quantity": 2, "options": ["egg"]},
                      {"product_id": "tea", "variant": "large", "quantity": 1}],
            "payment": {"method": "cash", "tendered": 10000}}
    body.update(overrides)
    return body


@pytest.fixture
def catalog(tenant):
    return make_catalog(tenant.id)


@pytest.fixture
def table(tenant):
    return restaurant.create_table(tenant_id=tenant.id, code="T1", area="Main", seats=4)


@pytest.fixture
def seam(monkeypatch):
    from .seams import Seam

    return Seam(monkeypatch)
