"""Stock levels, the movement ledger, adjustments and counts."""

import pytest

from modules.inventory import api
from modules.inventory.models import Movement
from pos.tenancy import all_tenants

from .factories import product, sized
from .helpers import assert_ledger_agrees, events

pytestmark = pytest.mark.django_db(databases="__all__")


def level(tenant, product_id, variant=None):
    return api.get_stock_levels(tenant_id=tenant.id, items=[(product_id, variant)])[(product_id, variant)]


def test_receive_waste_return_and_count_keep_the_ledger_in_agreement(tenant):
    tea = product(tenant, "Tea")
    api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="receive", quantity=20,
                     reason="delivery", actor="staff:mya")
    api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="waste", quantity=3,
                     reason="spilled", actor="staff:mya")
    api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="return", quantity=1,
                     reason="customer returned", actor="staff:mya")
    counted = api.count_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, counted=15, actor="staff:aung")
    assert (counted.on_hand, counted.available, counted.sequence) == (15, 15, 4)
    with all_tenants():
        ledger = list(Movement.objects.using("inventory").filter(product_id=tea.id).order_by("sequence")
                      .values_list("kind", "quantity", "on_hand_delta", "reason", "actor"))
    assert ledger == [("receive", 20, 20, "delivery", "staff:mya"), ("waste", 3, -3, "spilled", "staff:mya"),
                      ("return", 1, 1, "customer returned", "staff:mya"),
                      ("count", 15, -3, "physical count", "staff:aung")]
    assert assert_ledger_agrees() == 1
    published = events("inventory.stock_changed", product_id=tea.id)
    assert [(e["reason"], e["level"], e["sequence"]) for e in published] == [
        ("receive", 20, 1), ("waste", 17, 2), ("return", 18, 3), ("count", 15, 4)]
    assert published[0]["variant"] is None and published[0]["threshold"] == 5


def test_stock_is_tracked_per_variant(tenant):
    milk_tea = product(tenant, "Milk tea", variants=sized(1000, 1500), stock={"small": 10, "large": 4})
    assert milk_tea.stock_level is None
    assert [(v.key, v.stock_level) for v in milk_tea.variants] == [("small", 10), ("large", 4)]
    with pytest.raises(api.VariantRequired):
        api.adjust_stock(tenant_id=tenant.id, product_id=milk_tea.id, variant=None, kind="receive", quantity=1,
                         reason="", actor="x")
    with pytest.raises(api.VariantNotFound) as caught:
        api.adjust_stock(tenant_id=tenant.id, product_id=milk_tea.id, variant="jumbo", kind="receive", quantity=1,
                         reason="", actor="x")
    assert caught.value.status == 404
    assert level(tenant, milk_tea.id, "large").on_hand == 4
    assert events("inventory.stock_changed", product_id=milk_tea.id, variant="large")[-1]["level"] == 4


@pytest.mark.parametrize("quantity", [0, -2, 1.5, "3", True])
def test_bad_quantities_are_refused_and_nothing_written(tenant, quantity):
    tea = product(tenant, "Tea", stock=5)
    with pytest.raises(api.InvalidQuantity):
        api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="receive", quantity=quantity,
                         reason="", actor="x")
    assert level(tenant, tea.id).on_hand == 5
    assert assert_ledger_agrees() == 1


def test_waste_beyond_available_is_refused(tenant):
    tea = product(tenant, "Tea", stock=5)
    api.reserve_stock(tenant_id=tenant.id, lines=[api.StockLine(tea.id, None, 3)], key="order-1")
    with pytest.raises(api.InsufficientStock) as caught:
        api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="waste", quantity=3, reason="",
                         actor="x")
    assert caught.value.extra["lines"] == [{"product_id": tea.id, "variant": None, "requested": 3, "available": 2}]
    assert level(tenant, tea.id).on_hand == 5


def test_count_below_what_is_reserved_is_refused(tenant):
    tea = product(tenant, "Tea", stock=5)
    api.reserve_stock(tenant_id=tenant.id, lines=[api.StockLine(tea.id, None, 3)], key="order-1")
    with pytest.raises(api.CountBelowReserved):
        api.count_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, counted=2, actor="x")
    assert api.count_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, counted=3, actor="x").available == 0


def test_adjustment_key_applies_once_and_refuses_a_different_adjustment(tenant):
    tea = product(tenant, "Tea")
    for _ in range(3):
        result = api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="receive", quantity=7,
                                  reason="delivery", actor="x", key="delivery-42")
    assert result.on_hand == 7
    with pytest.raises(api.StockKeyConflict):
        api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="receive", quantity=8,
                         reason="delivery", actor="x", key="delivery-42")
    assert level(tenant, tea.id).on_hand == 7
    assert len(events("inventory.stock_changed", product_id=tea.id)) == 1


def test_threshold_defaults_to_five_and_can_be_set(tenant):
    tea = product(tenant, "Tea", stock=6)
    assert level(tenant, tea.id).threshold == 5 and not level(tenant, tea.id).is_low
    changed = api.set_stock_threshold(tenant_id=tenant.id, product_id=tea.id, variant=None, threshold=10)
    assert changed.threshold == 10 and changed.is_low


def test_another_tenants_stock_cannot_be_touched(tenant, other_tenant):
    tea = product(tenant, "Tea", stock=5)
    with pytest.raises(api.ProductNotFound):
        api.adjust_stock(tenant_id=other_tenant.id, product_id=tea.id, variant=None, kind="waste", quantity=1,
                         reason="", actor="x")
    with pytest.raises(api.ProductNotFound):
        api.count_stock(tenant_id=other_tenant.id, product_id=tea.id, variant=None, counted=0, actor="x")
    assert api.get_stock_levels(tenant_id=other_tenant.id, items=[(tea.id, None)]) == {}
    assert level(tenant, tea.id).on_hand == 5


def test_ledger_check_command_finds_a_tampered_level(tenant):
    from django.core.management import CommandError, call_command

    from modules.inventory.models import StockItem

    tea = product(tenant, "Tea", stock=5)
    call_command("inventory_check_ledger")
    with all_tenants():
        StockItem.objects.using("inventory").filter(product_id=tea.id).update(on_hand=99)
    with pytest.raises(CommandError, match="1 of 1 stock items disagree"):
        call_command("inventory_check_ledger")
