"""Reservations: all or nothing, idempotent by key, release, commit, expiry."""

from datetime import timedelta

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from modules.inventory import api
from modules.inventory.models import Movement, Reservation
from modules.inventory.tasks import expire_reservations
from pos.memo import memo_scope
from pos.tenancy import all_tenants

from .factories import product, sized
from .helpers import assert_ledger_agrees, events

pytestmark = pytest.mark.django_db(databases="__all__")
Line = api.StockLine


def levels(tenant, *pairs):
    found = api.get_stock_levels(tenant_id=tenant.id, items=list(pairs))
    return [(found[p].on_hand, found[p].reserved) for p in pairs]


def test_reserve_holds_every_line_and_commit_turns_it_into_a_sale(tenant):
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 5, "large": 5})
    tea = product(tenant, "Tea", stock=10)
    reservation = api.reserve_stock(tenant_id=tenant.id, key="saga-1", lines=[
        Line(soup.id, "small", 2), Line(tea.id, None, 3), Line(soup.id, "small", 1)])
    assert reservation.status == "active"
    assert sorted((ln.product_id, ln.variant, ln.quantity) for ln in reservation.lines) == sorted(
        [(soup.id, "small", 3), (tea.id, None, 3)])
    assert reservation.expires_at - timezone.now() > timedelta(minutes=14)
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(5, 3), (10, 3)]
    assert api.get_product(tenant_id=tenant.id, product_id=tea.id).stock_level == 7
    committed = api.commit_reservation(tenant_id=tenant.id, reservation_id=reservation.id)
    assert committed.status == "committed"
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(2, 0), (7, 0)]
    assert api.commit_reservation(tenant_id=tenant.id, reservation_id=reservation.id).status == "committed"
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(2, 0), (7, 0)]
    assert [e["reason"] for e in events("inventory.stock_changed", product_id=tea.id)] == [
        "receive", "reservation", "sale"]
    assert_ledger_agrees()


def test_sell_takes_the_stock_as_sold_at_once_and_cancel_gives_it_back_whole(tenant):
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 5, "large": 5})
    tea = product(tenant, "Tea", stock=10)
    api.reserve_stock(tenant_id=tenant.id, key="round-1", lines=[Line(tea.id, None, 4)])  # held by someone else
    sold = api.sell_stock(tenant_id=tenant.id, key="saga-1", lines=[Line(soup.id, "small", 2), Line(tea.id, None, 6)])
    assert sold.status == "committed"
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(3, 0), (4, 4)]  # on hand drops, holds stay
    with all_tenants():
        kinds = sorted(Movement.objects.using("inventory").filter(reference=sold.id).values_list("kind", flat=True))
    assert kinds == ["sale", "sale"]
    assert [e["reason"] for e in events("inventory.stock_changed", product_id=soup.id)][-1] == "sale"
    # the same key again: the same sale, nothing more taken; nothing to commit
    assert api.sell_stock(tenant_id=tenant.id, key="saga-1", lines=[
        Line(soup.id, "small", 2), Line(tea.id, None, 6)]).id == sold.id
    assert api.commit_reservation(tenant_id=tenant.id, reservation_id=sold.id).status == "committed"
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(3, 0), (4, 4)]
    # never more than is available (on hand less what others hold): all or nothing
    with pytest.raises(api.InsufficientStock) as caught:
        api.sell_stock(tenant_id=tenant.id, key="saga-2", lines=[Line(soup.id, "small", 1), Line(tea.id, None, 1)])
    assert caught.value.extra["lines"] == [{"product_id": tea.id, "variant": None, "requested": 1, "available": 0}]
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(3, 0), (4, 4)]
    # cancelled: returned whole, once
    assert api.cancel_reservation(tenant_id=tenant.id, reservation_id=sold.id).status == "returned"
    assert api.cancel_reservation(tenant_id=tenant.id, reservation_id=sold.id).status == "returned"
    assert levels(tenant, (soup.id, "small"), (tea.id, None)) == [(5, 0), (10, 4)]
    assert_ledger_agrees()


def test_sell_with_the_key_of_a_hold_answers_the_hold_and_sells_nothing(tenant):
    """A key reserved before (an order whose saga started before it sold at once) is that reservation: it is
    committed by its own call, never sold a second time."""
    tea = product(tenant, "Tea", stock=10)
    held = api.reserve_stock(tenant_id=tenant.id, key="saga-old", lines=[Line(tea.id, None, 3)])
    again = api.sell_stock(tenant_id=tenant.id, key="saga-old", lines=[Line(tea.id, None, 3)])
    assert (again.id, again.status) == (held.id, "active")
    assert levels(tenant, (tea.id, None)) == [(10, 3)]
    with pytest.raises(api.ReservationKeyConflict):
        api.sell_stock(tenant_id=tenant.id, key="saga-old", lines=[Line(tea.id, None, 4)])
    assert levels(tenant, (tea.id, None)) == [(10, 3)]


def test_all_or_nothing_and_the_failing_lines_are_reported(tenant):
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 5, "large": 1})
    tea = product(tenant, "Tea", stock=2)
    with pytest.raises(api.InsufficientStock) as caught:
        api.reserve_stock(tenant_id=tenant.id, key="saga-2", lines=[
            Line(soup.id, "small", 2), Line(soup.id, "large", 2), Line(tea.id, None, 3)])
    assert caught.value.status == 409
    assert sorted(caught.value.extra["lines"], key=lambda ln: ln["product_id"] + str(ln["variant"])) == sorted([
        {"product_id": soup.id, "variant": "large", "requested": 2, "available": 1},
        {"product_id": tea.id, "variant": None, "requested": 3, "available": 2},
    ], key=lambda ln: ln["product_id"] + str(ln["variant"]))
    assert levels(tenant, (soup.id, "small"), (soup.id, "large"), (tea.id, None)) == [(5, 0), (1, 0), (2, 0)]
    with all_tenants():
        assert not Reservation.objects.using("inventory").exists()
    assert not [e for e in events("inventory.stock_changed") if e["reason"] == "reservation"]
    # the same key may try again once stock arrives
    api.adjust_stock(tenant_id=tenant.id, product_id=tea.id, variant=None, kind="receive", quantity=5, reason="",
                     actor="x")
    api.adjust_stock(tenant_id=tenant.id, product_id=soup.id, variant="large", kind="receive", quantity=5, reason="",
                     actor="x")
    assert api.reserve_stock(tenant_id=tenant.id, key="saga-2", lines=[
        Line(soup.id, "small", 2), Line(soup.id, "large", 2), Line(tea.id, None, 3)]).status == "active"


def test_same_key_returns_the_same_reservation_and_holds_nothing_more(tenant):
    tea = product(tenant, "Tea", stock=10)
    first = api.reserve_stock(tenant_id=tenant.id, key="saga-3", lines=[Line(tea.id, None, 4)])
    again = api.reserve_stock(tenant_id=tenant.id, key="saga-3", lines=[Line(tea.id, None, 4)])
    assert again == first
    assert levels(tenant, (tea.id, None)) == [(10, 4)]
    with pytest.raises(api.ReservationKeyConflict):
        api.reserve_stock(tenant_id=tenant.id, key="saga-3", lines=[Line(tea.id, None, 5)])
    # another tenant may use the same key for its own reservation


def test_release_is_idempotent_and_a_committed_reservation_cannot_be_released(tenant):
    tea = product(tenant, "Tea", stock=10)
    held = api.reserve_stock(tenant_id=tenant.id, key="a", lines=[Line(tea.id, None, 4)])
    assert api.release_reservation(tenant_id=tenant.id, reservation_id=held.id).status == "released"
    assert api.release_reservation(tenant_id=tenant.id, reservation_id=held.id).status == "released"
    assert levels(tenant, (tea.id, None)) == [(10, 0)]
    with pytest.raises(api.ReservationNotActive):
        api.commit_reservation(tenant_id=tenant.id, reservation_id=held.id)
    sold = api.reserve_stock(tenant_id=tenant.id, key="b", lines=[Line(tea.id, None, 4)])
    api.commit_reservation(tenant_id=tenant.id, reservation_id=sold.id)
    with pytest.raises(api.ReservationNotActive) as caught:
        api.release_reservation(tenant_id=tenant.id, reservation_id=sold.id)
    assert caught.value.status == 409
    assert levels(tenant, (tea.id, None)) == [(6, 0)]
    assert_ledger_agrees()


def test_expired_reservations_are_released_by_the_periodic_task(tenant):
    tea = product(tenant, "Tea", stock=10)
    stale = api.reserve_stock(tenant_id=tenant.id, key="old", lines=[Line(tea.id, None, 4)], ttl_seconds=60)
    fresh = api.reserve_stock(tenant_id=tenant.id, key="new", lines=[Line(tea.id, None, 1)])
    with all_tenants():
        Reservation.objects.using("inventory").filter(pk=stale.id).update(
            expires_at=timezone.now() - timedelta(seconds=1))
    assert expire_reservations() == 1
    assert api.get_reservation(tenant_id=tenant.id, reservation_id=stale.id).status == "expired"
    assert api.get_reservation(tenant_id=tenant.id, reservation_id=fresh.id).status == "active"
    assert levels(tenant, (tea.id, None)) == [(10, 1)]
    assert expire_reservations() == 0
    with pytest.raises(api.ReservationNotActive):
        api.commit_reservation(tenant_id=tenant.id, reservation_id=stale.id)
    assert api.release_reservation(tenant_id=tenant.id, reservation_id=stale.id).status == "expired"
    assert events("inventory.stock_changed", product_id=tea.id)[-1]["reason"] == "release"
    assert_ledger_agrees()


def test_expiry_is_scheduled_and_configurable(tenant, settings):
    assert settings.CELERY_BEAT_SCHEDULE["inventory.expire_reservations"]["task"] == "inventory.expire_reservations"
    settings.INVENTORY_RESERVATION_TTL_SECONDS = 30
    tea = product(tenant, "Tea", stock=1)
    held = api.reserve_stock(tenant_id=tenant.id, key="short", lines=[Line(tea.id, None, 1)])
    assert timedelta(seconds=25) < held.expires_at - timezone.now() <= timedelta(seconds=30)


@pytest.mark.parametrize("lines, error", [
    ([], api.InvalidQuantity),
    ([Line("ghost", None, 1)], api.ProductNotFound),
    ([Line("TEA", None, 0)], api.InvalidQuantity),
    ([Line("TEA", None, -1)], api.InvalidQuantity),
    ([Line("TEA", None, 1.0)], api.InvalidQuantity),
    ([Line("TEA", "large", 1)], api.VariantNotFound),
    ([Line("SOUP", None, 1)], api.VariantRequired),
])
def test_bad_lines_are_refused_and_nothing_is_held(tenant, lines, error):
    product(tenant, "Tea", product_id="TEA", stock=5)
    product(tenant, "Soup", product_id="SOUP", variants=sized(), stock={"small": 5})
    with pytest.raises(error):
        api.reserve_stock(tenant_id=tenant.id, key="bad", lines=lines)
    assert levels(tenant, ("TEA", None), ("SOUP", "small")) == [(5, 0), (5, 0)]
    with all_tenants():
        assert not Reservation.objects.using("inventory").exists()


def test_inactive_and_sold_out_products_count_as_nothing_available(tenant):
    tea = product(tenant, "Tea", stock=5)
    api.update_product(tenant_id=tenant.id, product_id=tea.id, expected_version=1, changes={"is_sold_out": True})
    with pytest.raises(api.InsufficientStock) as caught:
        api.reserve_stock(tenant_id=tenant.id, key="x", lines=[Line(tea.id, None, 1)])
    assert caught.value.extra["lines"][0]["available"] == 0


def test_untracked_products_reserve_without_holding_stock(tenant):
    water = product(tenant, "Water", track_stock=False)
    assert water.stock_level is None and not water.is_sold_out
    held = api.reserve_stock(tenant_id=tenant.id, key="w", lines=[Line(water.id, None, 50)])
    assert api.commit_reservation(tenant_id=tenant.id, reservation_id=held.id).status == "committed"


def test_other_tenants_reservations_are_out_of_reach(tenant, other_tenant):
    tea = product(tenant, "Tea", stock=5)
    held = api.reserve_stock(tenant_id=tenant.id, key="k", lines=[Line(tea.id, None, 1)])
    with pytest.raises(api.ProductNotFound):
        api.reserve_stock(tenant_id=other_tenant.id, key="k", lines=[Line(tea.id, None, 1)])
    for call in (api.release_reservation, api.commit_reservation, api.get_reservation):
        with pytest.raises(api.ReservationNotFound):
            call(tenant_id=other_tenant.id, reservation_id=held.id)
    assert levels(tenant, (tea.id, None)) == [(5, 1)]


def test_default_ttl_is_fifteen_minutes():
    from modules.inventory import conf

    assert conf.reservation_ttl_seconds() == 900  # INVENTORY_RESERVATION_TTL_SECONDS unset


def test_cancel_undoes_a_reservation_whatever_became_of_it_once(tenant):
    tea = product(tenant, "Tea", stock=10)
    held = api.reserve_stock(tenant_id=tenant.id, key="saga-held", lines=[Line(tea.id, None, 2)])
    assert api.cancel_reservation(tenant_id=tenant.id, reservation_id=held.id).status == "released"
    assert levels(tenant, (tea.id, None)) == [(10, 0)]
    sold = api.reserve_stock(tenant_id=tenant.id, key="saga-sold", lines=[Line(tea.id, None, 3)])
    api.commit_reservation(tenant_id=tenant.id, reservation_id=sold.id)
    assert levels(tenant, (tea.id, None)) == [(7, 0)]
    for _ in range(2):  # a second cancel (a retry after a lost answer) takes nothing back twice
        assert api.cancel_reservation(tenant_id=tenant.id, reservation_id=sold.id).status == "returned"
        assert levels(tenant, (tea.id, None)) == [(10, 0)]
    with all_tenants():
        returns = list(Movement.objects.using("inventory").filter(kind="return", reference=sold.id))
    assert [(m.quantity, m.on_hand_delta) for m in returns] == [(3, 3)]
    assert [m.reference for m in api.list_movements(tenant_id=tenant.id, kinds=["sale", "return"])] == [sold.id] * 2
    with pytest.raises(api.ReservationNotActive):
        api.commit_reservation(tenant_id=tenant.id, reservation_id=sold.id)
    assert api.find_reservation(tenant_id=tenant.id, key="saga-sold").status == "returned"
    assert api.find_reservation(tenant_id=tenant.id, key="never") is None
    with pytest.raises(api.ReservationNotFound):
        api.cancel_reservation(tenant_id=tenant.id, reservation_id="nope")
    assert_ledger_agrees()


def test_selling_in_the_unit_of_work_that_read_the_products_does_not_read_them_again(tenant):
    tea = product(tenant, "Tea", stock=10)
    soup = product(tenant, "Mohinga", variants=sized(), stock={"small": 5, "large": 5})

    def product_reads(lines, key):
        with CaptureQueriesContext(connections["inventory"]) as seen:
            assert api.sell_stock(tenant_id=tenant.id, key=key, lines=lines).status == "committed"
        return sum('FROM "inventory_product"' in q["sql"] for q in seen.captured_queries)

    assert product_reads([Line(tea.id, None, 1)], "alone") == 1
    with memo_scope():
        assert set(api.get_products(tenant_id=tenant.id, product_ids=[tea.id])) == {tea.id}
        assert product_reads([Line(tea.id, None, 1)], "priced-first") == 0
        # one of them not read in this unit of work: they are read
        assert product_reads([Line(tea.id, None, 1), Line(soup.id, "small", 1)], "one-more") == 1
    assert product_reads([Line(tea.id, None, 1)], "scope-over") == 1
    assert levels(tenant, (tea.id, None), (soup.id, "small")) == [(6, 0), (4, 0)]
    assert_ledger_agrees()
