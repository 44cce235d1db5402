"""Events restaurant consumes. Each runs in `transaction.atomic(using="restaurant")` with the event's tenant
in scope; the inbox makes a redelivery a no-op, and each effect is idempotent on its own as well."""

from __future__ import annotations

from pos.contracts import Envelope
from pos.contracts.inventory import ProductUpdated
from pos.contracts.pos_core import OrderPlaced, OrderStatusChanged
from pos.events import subscribe

from . import services


@subscribe("inventory.product_updated", using="restaurant")
def flag_menu_items_of_product(envelope: Envelope) -> None:
    """A deactivated product flags its menu items `product_unavailable`; re-activated, the flag clears."""
    event: ProductUpdated = envelope.payload
    services.menu_items_flag_product(tenant_id=envelope.tenant_id, product_id=event.product_id,
                                     unavailable=not event.is_active)


@subscribe("pos_core.order_placed", using="restaurant")
def seat_order_on_table(envelope: Envelope) -> None:
    """An order placed on a table: the table becomes occupied and the order joins its open tab."""
    event: OrderPlaced = envelope.payload
    if event.table_id:
        services.table_order_attach(tenant_id=envelope.tenant_id, table_id=event.table_id, order_id=event.order_id)


@subscribe("pos_core.order_status_changed", using="restaurant")
def drop_cancelled_order_from_tab(envelope: Envelope) -> None:
    """A cancelled order no longer belongs to the table's running bill."""
    event: OrderStatusChanged = envelope.payload
    if event.table_id and event.status == "cancelled":
        services.table_order_detach(tenant_id=envelope.tenant_id, order_id=event.order_id)
