"""Dining tables: tabs open, close, move and merge; order events; exactly one of concurrent opens wins."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from django.db import connections

from conftest import at_once
from modules.restaurant import api
from pos.contracts import Envelope
from pos.contracts.pos_core import OrderPlaced, OrderStatusChanged

from .conftest import restaurant_events


def _table(tenant, code: str = "T1", area: str = "Ground floor", seats: int = 4):
    return api.create_table(tenant_id=tenant.id, code=code, area=area, seats=seats)


def _placed(tenant, order_id: str, table_id: str | None) -> Envelope:
    return Envelope(id=uuid.uuid4(), name="pos_core.order_placed", version=1, tenant_id=tenant.id,
                    occurred_at=datetime.now(UTC), payload=OrderPlaced(order_id=order_id, table_id=table_id,
                                                                       status="open", total=5000, currency="MMK",
                                                                       item_count=2))


@pytest.mark.django_db(databases="__all__")
class TestTabs:
    def test_open_then_open_again_conflicts_and_changes_nothing(self, tenant):
        table = _table(tenant)
        opened = api.open_tab(tenant_id=tenant.id, table_id=table.id)
        assert opened.status == "occupied" and opened.tab_id and opened.open_order_ids == ()
        with pytest.raises(api.TableNotFree) as raised:
            api.open_tab(tenant_id=tenant.id, table_id=table.id)
        assert raised.value.status == 409 and raised.value.extra["table_status"] == "occupied"
        assert api.get_table(tenant_id=tenant.id, table_id=table.id) == opened
        assert restaurant_events("restaurant.table_status_changed") == [{"table_id": table.id, "status": "occupied"}]

    def test_unknown_malformed_and_other_tenants_tables_are_not_found(self, tenant, other_tenant):
        table = _table(tenant)
        for table_id in (str(uuid.uuid4()), "not-a-uuid"):
            with pytest.raises(api.TableNotFound):
                api.get_table(tenant_id=tenant.id, table_id=table_id)
        with pytest.raises(api.TableNotFound):
            api.open_tab(tenant_id=other_tenant.id, table_id=table.id)
        assert api.get_table(tenant_id=tenant.id, table_id=table.id).status == "free"

    def test_close_publishes_tab_closed_with_orders_then_clean_frees(self, tenant):
        from modules.restaurant.handlers import seat_order_on_table

        table = _table(tenant)
        api.open_tab(tenant_id=tenant.id, table_id=table.id)
        seat_order_on_table(_placed(tenant, "order-1", table.id))
        seat_order_on_table(_placed(tenant, "order-2", table.id))
        closed = api.close_tab(tenant_id=tenant.id, table_id=table.id)
        assert closed.status == "needs_cleaning" and closed.open_order_ids == () and closed.tab_id is None
        assert restaurant_events("restaurant.tab_closed") == [{"table_id": table.id,
                                                               "order_ids": ["order-1", "order-2"]}]
        with pytest.raises(api.NoOpenTab):
            api.close_tab(tenant_id=tenant.id, table_id=table.id)
        with pytest.raises(api.TableNotFree):
            api.open_tab(tenant_id=tenant.id, table_id=table.id)
        assert api.mark_table_free(tenant_id=tenant.id, table_id=table.id).status == "free"
        assert [e["status"] for e in restaurant_events("restaurant.table_status_changed")] == [
            "occupied", "needs_cleaning", "free"]

    def test_an_occupied_table_cannot_be_marked_free(self, tenant):
        table = _table(tenant)
        api.open_tab(tenant_id=tenant.id, table_id=table.id)
        with pytest.raises(api.TableNotCleanable):
            api.mark_table_free(tenant_id=tenant.id, table_id=table.id)

    def test_move_takes_tab_and_orders_to_a_free_table(self, tenant):
        from modules.restaurant.handlers import seat_order_on_table

        t1, t2, t3 = _table(tenant, "T1"), _table(tenant, "T2"), _table(tenant, "T3")
        seat_order_on_table(_placed(tenant, "order-1", t1.id))
        api.open_tab(tenant_id=tenant.id, table_id=t3.id)
        with pytest.raises(api.TableNotFree):
            api.move_tab(tenant_id=tenant.id, table_id=t1.id, target_table_id=t3.id)
        with pytest.raises(api.TableNotFound):
            api.move_tab(tenant_id=tenant.id, table_id=t1.id, target_table_id=str(uuid.uuid4()))
        with pytest.raises(api.SameTable):
            api.move_tab(tenant_id=tenant.id, table_id=t1.id, target_table_id=t1.id)
        assert api.get_table(tenant_id=tenant.id, table_id=t1.id).open_order_ids == ("order-1",)
        moved = api.move_tab(tenant_id=tenant.id, table_id=t1.id, target_table_id=t2.id)
        assert moved.id == t2.id and moved.status == "occupied" and moved.open_order_ids == ("order-1",)
        left = api.get_table(tenant_id=tenant.id, table_id=t1.id)
        assert left.status == "needs_cleaning" and left.open_order_ids == ()
        with pytest.raises(api.NoOpenTab):
            api.move_tab(tenant_id=tenant.id, table_id=t1.id, target_table_id=t2.id)

    def test_merge_moves_other_tables_orders_onto_this_tab(self, tenant):
        from modules.restaurant.handlers import seat_order_on_table

        t1, t2, t3 = _table(tenant, "T1"), _table(tenant, "T2"), _table(tenant, "T3")
        seat_order_on_table(_placed(tenant, "a", t1.id))
        seat_order_on_table(_placed(tenant, "b", t2.id))
        seat_order_on_table(_placed(tenant, "c", t2.id))
        with pytest.raises(api.NoOpenTab):
            api.merge_tables(tenant_id=tenant.id, table_id=t1.id, other_table_id=t3.id)
        merged = api.merge_tables(tenant_id=tenant.id, table_id=t1.id, other_table_id=t2.id)
        assert merged.status == "occupied" and set(merged.open_order_ids) == {"a", "b", "c"}
        other = api.get_table(tenant_id=tenant.id, table_id=t2.id)
        assert other.status == "needs_cleaning" and other.open_order_ids == ()
        api.close_tab(tenant_id=tenant.id, table_id=t1.id)
        assert set(restaurant_events("restaurant.tab_closed")[0]["order_ids"]) == {"a", "b", "c"}

    def test_list_filters_by_area_and_status(self, tenant, other_tenant):
        for code, area in [("T1", "Ground floor"), ("T2", "Terrace"), ("T3", "Terrace")]:
            _table(tenant, code, area)
        _table(other_tenant, "T9", "Terrace")
        terrace = api.list_tables(tenant_id=tenant.id, area="Terrace")
        assert [t.code for t in terrace] == ["T2", "T3"]
        api.open_tab(tenant_id=tenant.id, table_id=terrace[0].id)
        assert [t.code for t in api.list_tables(tenant_id=tenant.id, status="occupied")] == ["T2"]
        assert [t.code for t in api.list_tables(tenant_id=tenant.id, area="Terrace", status="free")] == ["T3"]

    def test_table_codes_are_unique_per_tenant(self, tenant, other_tenant):
        _table(tenant, "T1")
        _table(other_tenant, "T1")
        with pytest.raises(api.TableCodeTaken):
            _table(tenant, "T1")


@pytest.mark.django_db(databases="__all__")
class TestOrderEvents:
    def test_order_placed_on_a_free_table_opens_a_tab_once(self, tenant):
        from modules.restaurant.handlers import seat_order_on_table

        table = _table(tenant)
        envelope = _placed(tenant, "order-1", table.id)
        seat_order_on_table(envelope)
        seat_order_on_table(envelope)  # redelivered: attached once
        seated = api.get_table(tenant_id=tenant.id, table_id=table.id)
        assert seated.status == "occupied" and seated.open_order_ids == ("order-1",)
        assert [e["status"] for e in restaurant_events("restaurant.table_status_changed")] == ["occupied"]

    def test_order_without_table_or_on_unknown_table_changes_nothing(self, tenant, other_tenant):
        from modules.restaurant.handlers import seat_order_on_table

        table = _table(tenant)
        seat_order_on_table(_placed(tenant, "takeaway", None))
        seat_order_on_table(_placed(tenant, "lost", str(uuid.uuid4())))
        seat_order_on_table(_placed(other_tenant, "foreign", table.id))  # another tenant cannot seat here
        assert api.get_table(tenant_id=tenant.id, table_id=table.id).status == "free"

    def test_order_on_a_table_that_needs_cleaning_reopens_it(self, tenant):
        from modules.restaurant.handlers import seat_order_on_table

        table = _table(tenant)
        seat_order_on_table(_placed(tenant, "first", table.id))
        api.close_tab(tenant_id=tenant.id, table_id=table.id)
        seat_order_on_table(_placed(tenant, "second", table.id))
        seated = api.get_table(tenant_id=tenant.id, table_id=table.id)
        assert seated.status == "occupied" and seated.open_order_ids == ("second",)

    def test_cancelled_order_leaves_the_open_tab(self, tenant):
        from modules.restaurant.handlers import drop_cancelled_order_from_tab, seat_order_on_table

        table = _table(tenant)
        seat_order_on_table(_placed(tenant, "keep", table.id))
        seat_order_on_table(_placed(tenant, "drop", table.id))
        drop_cancelled_order_from_tab(Envelope(
            id=uuid.uuid4(), name="pos_core.order_status_changed", version=1, tenant_id=tenant.id,
            occurred_at=datetime.now(UTC),
            payload=OrderStatusChanged(order_id="drop", table_id=table.id, status="cancelled", version=2)))
        assert api.get_table(tenant_id=tenant.id, table_id=table.id).open_order_ids == ("keep",)

    def test_handlers_are_subscribed(self):
        from pos.events import subscriptions_for

        assert "restaurant.seat_order_on_table" in {s.handler_name for s in subscriptions_for("pos_core.order_placed")}
        assert "restaurant.flag_menu_items_of_product" in {
            s.handler_name for s in subscriptions_for("inventory.product_updated")}
        assert all(s.using == "restaurant" for s in subscriptions_for("pos_core.order_placed")
                   if s.handler_name.startswith("restaurant."))


@pytest.mark.django_db(databases="__all__", transaction=True)
@pytest.mark.postgres
def test_concurrent_opens_of_one_table_exactly_one_wins(tenant):
    if connections["restaurant"].vendor != "postgresql":
        pytest.skip("20 concurrent writers need PostgreSQL (SQLite serialises writers; see the sequential test)")
    table = _table(tenant)
    results = at_once(20, lambda _: api.open_tab(tenant_id=tenant.id, table_id=table.id))
    outcomes = ["lost" if isinstance(r, api.TableNotFree) else f"error {r!r}" if isinstance(r, BaseException)
                else "won" for r in results]
    assert sorted(outcomes) == ["lost"] * 19 + ["won"]
    assert api.get_table(tenant_id=tenant.id, table_id=table.id).status == "occupied"
    assert len(restaurant_events("restaurant.table_status_changed")) == 1


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_concurrent_open_conflict_sequentially(tenant):
    """The loser of a race sees the winner's committed change: a TableNotFree, one tab, one event."""
    table = _table(tenant)
    api.open_tab(tenant_id=tenant.id, table_id=table.id)
    for _ in range(3):
        with pytest.raises(api.TableNotFree):
            api.open_tab(tenant_id=tenant.id, table_id=table.id)
    assert len(restaurant_events("restaurant.table_status_changed")) == 1
