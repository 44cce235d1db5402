"""Restaurant end to end through the event backbone: order events seat tables, product events flag menu
items, closing a tab publishes restaurant.tab_closed for its orders. Publishing as pos_core here stands in
for pos_core's saga; restaurant never imports pos_core."""

from __future__ import annotations

import pytest
from django.db import transaction

from modules.inventory import api as inventory
from modules.restaurant import api as restaurant
from pos.contracts.pos_core import OrderPlaced
from pos.events import publish
from pos.events.relay import drain
from pos.models import OutboxEvent

pytestmark = pytest.mark.django_db(databases="__all__")


def _place(tenant, order_id: str, table_id: str | None) -> None:
    with transaction.atomic(using="pos_core"):
        publish(OrderPlaced(order_id=order_id, table_id=table_id, status="open", total=4000, currency="MMK",
                            item_count=1), tenant_id=tenant.id, using="pos_core")


def test_orders_placed_on_a_table_seat_it_and_closing_publishes_their_ids(tenant):
    table = restaurant.create_table(tenant_id=tenant.id, code="T1", area="Terrace")
    _place(tenant, "o-1", table.id)
    _place(tenant, "o-2", table.id)
    _place(tenant, "takeaway", None)
    drain()
    drain()  # a second pass delivers nothing twice
    seated = restaurant.get_table(tenant_id=tenant.id, table_id=table.id)
    assert seated.status == "occupied" and seated.open_order_ids == ("o-1", "o-2")
    restaurant.close_tab(tenant_id=tenant.id, table_id=table.id)
    closed = OutboxEvent.objects.using("restaurant").get(name="restaurant.tab_closed")
    assert closed.payload == {"table_id": table.id, "order_ids": ["o-1", "o-2"]}
    assert closed.tenant_id == tenant.id


def test_deactivating_a_product_flags_menu_items_through_the_event(tenant):
    product = inventory.create_product(tenant_id=tenant.id, names={"en": "Tea", "my": "လက်ဖက်ရည်"}, price=800)
    menu = restaurant.create_menu(tenant_id=tenant.id, name="Drinks", sections=[
        restaurant.SectionSpec(names={"en": "Drinks"}, items=(restaurant.ItemSpec(product_id=product.id),))])
    drain()
    product = inventory.update_product(tenant_id=tenant.id, product_id=product.id, expected_version=product.version,
                                       changes={"is_active": False})
    drain()
    assert restaurant.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0].items[0].product_unavailable
    inventory.update_product(tenant_id=tenant.id, product_id=product.id, expected_version=product.version,
                             changes={"is_active": True})
    drain()
    assert not restaurant.get_menu(tenant_id=tenant.id, menu_id=menu.id).sections[0].items[0].product_unavailable
