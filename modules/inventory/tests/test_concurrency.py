"""Never oversell: many concurrent reservations of the same stock on PostgreSQL."""

import pytest

from conftest import at_once, make_tenant
from modules.inventory import api
from modules.inventory.models import StockItem
from pos.tenancy import all_tenants

from .factories import product, sized
from .helpers import assert_ledger_agrees

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres,
              pytest.mark.usefixtures("postgres_only")]

THREADS = 24



def test_concurrent_reservations_take_exactly_the_available_stock():
    tenant = make_tenant()
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 10, "large": 3})

    def reserve(index: int):
        return api.reserve_stock(tenant_id=tenant.id, key=f"saga-{index}", lines=[api.StockLine(soup.id, "small", 1)])

    results = at_once(THREADS, reserve)
    won = [r for r in results if isinstance(r, api.ReservationInfo)]
    lost = [r for r in results if isinstance(r, api.InsufficientStock)]
    assert len(won) == 10 and len(lost) == THREADS - 10, results
    level = api.get_stock_levels(tenant_id=tenant.id, items=[(soup.id, "small")])[(soup.id, "small")]
    assert (level.on_hand, level.reserved, level.available) == (10, 10, 0)
    assert all(r.extra["lines"][0]["available"] == 0 for r in lost)
    assert_ledger_agrees()


def test_concurrent_sales_and_holds_never_take_more_than_there_is_and_one_key_sells_once():
    tenant = make_tenant()
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 10, "large": 3})

    def take(index: int):
        lines = [api.StockLine(soup.id, "small", 1)]
        if index % 4 == 0:
            return api.reserve_stock(tenant_id=tenant.id, key=f"round-{index}", lines=lines)
        if index % 4 == 1:  # the same key from 6 threads at once (a retried placement): one sale
            return api.sell_stock(tenant_id=tenant.id, key="saga-retried", lines=lines)
        return api.sell_stock(tenant_id=tenant.id, key=f"saga-{index}", lines=lines)

    results = at_once(THREADS, take)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, api.InsufficientStock)]
    assert not unexpected, unexpected
    won = {r.id: r for r in results if isinstance(r, api.ReservationInfo)}
    held = [r for r in won.values() if r.status == "active"]
    sold = [r for r in won.values() if r.status == "committed"]
    assert len({r.id for r in results if isinstance(r, api.ReservationInfo) and r.key == "saga-retried"}) <= 1
    assert len(held) + len(sold) == 10, results  # every unit taken once: held or sold, never more
    level = api.get_stock_levels(tenant_id=tenant.id, items=[(soup.id, "small")])[(soup.id, "small")]
    assert (level.on_hand, level.reserved, level.available) == (10 - len(sold), len(held), 0)
    assert_ledger_agrees()


def test_concurrent_multi_line_reservations_and_commits_never_go_negative():
    tenant = make_tenant()
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 7, "large": 5})
    tea = product(tenant, "Tea", stock=9)

    def reserve_and_settle(index: int):
        # opposite line orders on purpose: the service must not deadlock
        lines = [api.StockLine(tea.id, None, 1), api.StockLine(soup.id, "small", 1)]
        if index % 2:
            lines.reverse()
        held = api.reserve_stock(tenant_id=tenant.id, key=f"s-{index}", lines=lines)
        if index % 3 == 0:
            return api.release_reservation(tenant_id=tenant.id, reservation_id=held.id)
        return api.commit_reservation(tenant_id=tenant.id, reservation_id=held.id)

    results = at_once(THREADS, reserve_and_settle)
    unexpected = [r for r in results if isinstance(r, Exception) and not isinstance(r, api.InsufficientStock)]
    assert not unexpected, unexpected
    sold = sum(1 for r in results if isinstance(r, api.ReservationInfo) and r.status == "committed")
    with all_tenants():
        items = {(i.product_id, i.variant): i for i in StockItem.objects.using("inventory").filter(tenant_id=tenant.id)}
    assert all(i.on_hand >= 0 and i.reserved == 0 for i in items.values())
    assert items[(soup.id, "small")].on_hand == 7 - sold and items[(tea.id, "")].on_hand == 9 - sold
    assert sold >= 1
    assert_ledger_agrees()


def test_concurrent_cancels_and_commits_of_one_reservation_move_the_stock_once():
    tenant = make_tenant()
    tea = product(tenant, "Tea", stock=10)
    held = api.reserve_stock(tenant_id=tenant.id, key="saga-raced", lines=[api.StockLine(tea.id, None, 4)])

    def act(index: int):
        if index % 3 == 0:
            return api.commit_reservation(tenant_id=tenant.id, reservation_id=held.id)
        return api.cancel_reservation(tenant_id=tenant.id, reservation_id=held.id)

    results = at_once(12, act)
    assert not [r for r in results if isinstance(r, Exception) and not isinstance(r, api.ReservationNotActive)], results
    final = api.get_reservation(tenant_id=tenant.id, reservation_id=held.id).status
    level = api.get_stock_levels(tenant_id=tenant.id, items=[(tea.id, None)])[(tea.id, None)]
    # released before any commit, or committed and then returned: either way the stock is whole again
    assert final in ("released", "returned") and (level.on_hand, level.reserved) == (10, 0), (final, level)
    assert_ledger_agrees()
