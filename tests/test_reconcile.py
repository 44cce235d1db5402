"""`reconcile`: a clean database is reported clean; every kind of mismatch planted directly in one module's
database is reported with its ids; the command prints a table and exits non-zero; findings become alerts
managers and operators see; it runs nightly; its queries do not grow with the number of orders."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conftest import make_terminal_client
from modules.accounts.models import User
from modules.inventory import api as inventory
from modules.inventory.models import Movement, Reservation, StockItem
from modules.payment import api as payment
from modules.payment.models import Payment, Refund
from modules.pos_core import refunds, saga
from modules.pos_core.models import Order, OrderItem, OrderPayment, OrderRefund, OrderSaga, RefundTender, StockLevel
from modules.pos_core.tests.conftest import make_catalog, order_body
from modules.pos_core.tests.seams import Crash, Seam
from ops.alerts import open_alerts
from ops.models import ReconcileAlert
from ops.reconcile import KINDS, reconcile
from pos import tenancy
from pos.money import Money

# Committed transactions: pos_core keeps inventory's stock levels from events delivered after commit.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def _events_in_process(settings):
    # pos_core keeps inventory's stock levels from its events: deliver them at once in both modes.
    settings.EVENTS_IN_PROCESS = True


@pytest.fixture
def shop(tenant):
    """Two card orders, one partly refunded with its units back in stock."""
    make_catalog(tenant.id)
    first = saga.place_order(tenant_id=tenant.id, idempotency_key="r-1", data=order_body(payment={"method": "card"}))
    second = saga.place_order(tenant_id=tenant.id, idempotency_key="r-2", data=order_body(payment={"method": "card"}))
    item = first.items.get(product_id="mohinga")
    refunds.refund_order(tenant_id=tenant.id, order_id=first.id, idempotency_key="refund-1",
                         items=[{"item_id": str(item.id), "quantity": 1}], restock=True, reason="cold")
    return {"first": first, "second": second, "item": item}


def kinds_of(report) -> set[str]:
    return {m.kind for m in report.mismatches}


def test_a_clean_database_is_reported_clean(tenant, shop):
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()
    assert (report.orders, report.payments) == (2, 2)
    assert report.sales == 4 and report.stock_items == 3
    call_command("reconcile", "--tenant", tenant.slug)


def _pg(alias: str, sql: str, params: list) -> None:
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, params)


def plant_capture_differs(tenant, shop):
    with tenancy.all_tenants():
        Order.objects.filter(pk=shop["second"].id).update(grand_total=shop["second"].grand_total + 100)
    return "order_capture_differs", str(shop["second"].id)


def plant_refund_differs(tenant, shop):
    with tenancy.all_tenants():
        Order.objects.filter(pk=shop["first"].id).update(refunded=0)
    return "order_refund_differs", str(shop["first"].id)


def _refund_on_payment_only(tenant, payment_id, key: str) -> str:
    """A refund of 500 recorded on the payment side alone (as a provider refund the order never heard of)."""
    with tenancy.all_tenants():
        row = Payment.objects.using("payment").get(pk=payment_id)
        refund = Refund.objects.using("payment").create(
            tenant_id=tenant.id, payment=row, amount=500, currency="MMK", reason="planted", status="succeeded",
            idempotency_key=key, fingerprint="x", provider_key=f"{key}-key")
        Payment.objects.using("payment").filter(pk=row.pk).update(refunded_amount=500, status="partially_refunded")
    return str(refund.id)


def plant_payment_side_refund(tenant, shop):
    return "refund_missing_on_order", _refund_on_payment_only(tenant, shop["second"].payment_id, "planted")


def plant_refund_missing_on_payment(tenant, shop):
    with tenancy.all_tenants():
        refund = OrderRefund.objects.get(order_id=shop["first"].id)
        OrderRefund.objects.filter(pk=refund.pk).update(payment_refund_id=str(uuid.uuid4()))
    return "refund_missing_on_payment", str(refund.id)


def plant_order_without_payment(tenant, shop):
    with tenancy.all_tenants():
        Order.objects.filter(pk=shop["second"].id).update(payment_id=str(uuid.uuid4()))
    return "order_without_payment", str(shop["second"].id)


def plant_line_over_refunded(tenant, shop):
    with tenancy.all_tenants():
        OrderItem.objects.filter(pk=shop["item"].id).update(refunded_quantity=shop["item"].quantity + 1)
    return "line_over_refunded", str(shop["item"].id)


def plant_line_quantity_differs(tenant, shop):
    with tenancy.all_tenants():
        OrderItem.objects.filter(pk=shop["item"].id).update(refunded_quantity=0)
    return "line_refund_quantity_differs", str(shop["item"].id)


def plant_stock_not_returned(tenant, shop):
    with tenancy.all_tenants():
        Movement.objects.using("inventory").filter(kind="return").update(quantity=0)
    return "line_stock_return_differs", str(shop["item"].id)


def plant_ledger_differs(tenant, shop):
    with tenancy.all_tenants():
        StockItem.objects.using("inventory").filter(product_id="tea", variant="small").update(on_hand=99)
    return "ledger_differs", "tea/small"


def plant_cache_behind(tenant, shop):
    with tenancy.all_tenants():
        row = StockLevel.objects.get(product_id="mohinga")
        StockLevel.objects.filter(pk=row.pk).update(sequence=row.sequence - 1)
    return "stock_cache_behind", "mohinga"


def plant_cache_missing(tenant, shop):
    with tenancy.all_tenants():
        StockLevel.objects.filter(product_id="tea", variant="large").delete()
    return "stock_cache_missing", "tea/large"


def plant_cache_differs(tenant, shop):
    with tenancy.all_tenants():
        StockLevel.objects.filter(product_id="mohinga").update(level=1000)
    return "stock_cache_differs", "mohinga"


def plant_capture_without_order(tenant, shop):
    info = payment.charge(tenant_id=tenant.id, amount=Money(2000, "MMK"), method="card", idempotency_key="stray",
                          reference=str(uuid.uuid4()))
    return "capture_without_order", info.id


def plant_sale_without_order(tenant, shop):
    reservation = inventory.reserve_stock(tenant_id=tenant.id, key=f"saga-{uuid.uuid4()}",
                                          lines=[inventory.StockLine(product_id="mohinga", variant=None, quantity=1)])
    inventory.commit_reservation(tenant_id=tenant.id, reservation_id=reservation.id)
    return "sale_without_order", reservation.id


def plant_orphan_reservation(tenant, shop):
    reservation = inventory.reserve_stock(tenant_id=tenant.id, key="held-by-nobody",
                                          lines=[inventory.StockLine(product_id="mohinga", variant=None, quantity=1)])
    return "reservation_without_running_saga", reservation.id


def plant_reservation_past_ttl(tenant, shop):
    from modules.pos_core.tests.test_table_service import open_check
    from modules.restaurant import api as restaurant

    # An open table check's round holds its stock (active) while the check is open.
    open_check(make_terminal_client(tenant, "manager"), restaurant.create_table(tenant_id=tenant.id, code="HELD"),
               [{"product_id": "mohinga", "quantity": 1}])
    with tenancy.all_tenants():
        reservation = Reservation.objects.using("inventory").get(status="active")
        Reservation.objects.using("inventory").filter(pk=reservation.pk).update(
            expires_at=timezone.now() - timedelta(hours=1))
    return "reservation_past_ttl", reservation.id


def test_stock_sold_by_a_saga_still_placing_its_order_is_not_a_finding_and_is_given_back(tenant, shop):
    """The saga takes the stock as sold before the charge: while it runs, that sale is its own; when recovery
    cancels it, the stock comes back whole and nothing is left to report."""
    def crash(point):
        raise Crash(point)

    sales_before = reconcile(tenant_id=tenant.id).sales
    with pytest.MonkeyPatch.context() as monkeypatch:
        Seam(monkeypatch).saved("reserve", crash)
        with pytest.raises(Crash):
            saga.place_order(tenant_id=tenant.id, idempotency_key="stuck", data=order_body())
    report = reconcile(tenant_id=tenant.id)
    assert report.clean and report.sales == sales_before + 2, report.table()  # two lines sold, by a running saga
    with tenancy.all_tenants():
        saga_id = OrderSaga.objects.get(idempotency_key="stuck", status="running").id
    assert saga.recover_stuck(older_than=timedelta(seconds=-1))["compensated"] == 1
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()
    with tenancy.all_tenants():
        assert Reservation.objects.using("inventory").get(key__startswith="saga-",
                                                          key__endswith=str(saga_id)).status == "returned"


# --- table checks: paid by several tenders, tips apart ------------------------------------------------------

def _paid_check(tenant, *, refund: int = 1000) -> dict:
    """A check paid by cash (2000) and card (4000 + a 300 tip), `refund` of it given back through the order."""
    from modules.pos_core.tests.test_table_service import open_check, post
    from modules.restaurant import api as restaurant

    waiter = make_terminal_client(tenant, "manager")
    table = restaurant.create_table(tenant_id=tenant.id, code=f"C{uuid.uuid4().hex[:6]}")
    check = open_check(waiter, table, [{"product_id": "mohinga", "quantity": 2}])
    cash = post(waiter, f"orders/{check['id']}/payments", {"method": "cash", "amount": 2000}).json()
    card = post(waiter, f"orders/{check['id']}/payments", {"method": "card", "amount": 4000, "tip": 300}).json()
    assert card["order"]["status"] == "completed", card
    if refund:
        assert post(waiter, f"orders/{check['id']}/refund", {"amount": refund, "reason": "cold"}).status_code == 201
    return {"id": check["id"], "cash": cash, "card": card, "waiter": waiter}


def plant_check_tender_capture_differs(tenant, shop):
    check = _paid_check(tenant)
    with tenancy.all_tenants():
        OrderPayment.objects.filter(pk=check["card"]["id"]).update(captured=4000)  # the tip forgotten
    return "check_tender_capture_differs", check["card"]["id"]


def plant_check_tender_refund_differs(tenant, shop):
    check = _paid_check(tenant)
    with tenancy.all_tenants():
        OrderPayment.objects.filter(pk=check["card"]["id"]).update(refunded=0)
    return "check_tender_refund_differs", check["card"]["id"]


def plant_check_tenders_differ(tenant, shop):
    check = _paid_check(tenant, refund=0)
    with tenancy.all_tenants():
        Order.objects.filter(pk=check["id"]).update(grand_total=6300)  # the tip counted as a sale
    return "check_tenders_differ", check["id"]


def plant_check_refund_differs(tenant, shop):
    check = _paid_check(tenant)
    with tenancy.all_tenants():
        Order.objects.filter(pk=check["id"]).update(refunded=0)
    return "check_refund_differs", check["id"]


def plant_check_payment_side_refund(tenant, shop):
    check = _paid_check(tenant, refund=0)
    return "refund_missing_on_order", _refund_on_payment_only(tenant, check["cash"]["payment_id"], "planted-check")


def plant_check_refund_missing_on_payment(tenant, shop):
    check = _paid_check(tenant)
    with tenancy.all_tenants():
        row = RefundTender.objects.get(tender_id=check["card"]["id"])
        RefundTender.objects.filter(pk=row.pk).update(payment_refund_id=str(uuid.uuid4()))
        return "refund_missing_on_payment", RefundTender.objects.get(pk=row.pk).payment_refund_id


def plant_check_tender_without_payment(tenant, shop):
    check = _paid_check(tenant, refund=0)
    with tenancy.all_tenants():
        OrderPayment.objects.filter(pk=check["cash"]["id"]).update(payment_id=str(uuid.uuid4()))
    return "check_tender_without_payment", check["cash"]["id"]


def plant_check_tender_not_captured(tenant, shop):
    check = _paid_check(tenant, refund=0)
    with tenancy.all_tenants():
        Payment.objects.using("payment").filter(pk=check["cash"]["payment_id"]).update(status="pending")
    return "check_tender_not_captured", check["cash"]["id"]


def plant_check_tender_kept(tenant, shop):
    check = _paid_check(tenant, refund=0)
    with tenancy.all_tenants():
        OrderPayment.objects.filter(pk=check["cash"]["id"]).update(status="refunded")  # "given back", but kept
    return "check_tender_kept", check["cash"]["id"]


def plant_capture_of_cancelled_check(tenant, shop):
    check = _paid_check(tenant, refund=0)
    with tenancy.all_tenants():
        Order.objects.filter(pk=check["id"]).update(status="cancelled")
    return "capture_of_cancelled_check", check["card"]["id"]


PLANTS = [plant_capture_differs, plant_refund_differs, plant_payment_side_refund, plant_refund_missing_on_payment,
          plant_order_without_payment, plant_line_over_refunded, plant_line_quantity_differs, plant_stock_not_returned,
          plant_ledger_differs, plant_cache_behind, plant_cache_missing, plant_cache_differs,
          plant_capture_without_order, plant_sale_without_order, plant_orphan_reservation, plant_reservation_past_ttl,
          plant_check_tender_capture_differs, plant_check_tender_refund_differs, plant_check_tenders_differ,
          plant_check_refund_differs, plant_check_payment_side_refund, plant_check_refund_missing_on_payment,
          plant_check_tender_without_payment, plant_check_tender_not_captured, plant_check_tender_kept,
          plant_capture_of_cancelled_check]


def test_table_checks_paid_by_tenders_split_refunded_and_cancelled_are_reported_clean(tenant, shop):
    from modules.pos_core.table_service import flows
    from modules.pos_core.tests.test_table_service import open_check, post
    from modules.restaurant import api as restaurant

    paid = _paid_check(tenant)  # cash + card + tip, 1000 refunded through the order
    waiter = paid["waiter"]
    split = open_check(waiter, restaurant.create_table(tenant_id=tenant.id, code="SPLIT"),
                       [{"product_id": "mohinga", "quantity": 2}])
    parent = post(waiter, f"orders/{split['id']}/split", {"by": "equal", "count": 2}).json()
    for part_id in parent["part_ids"]:
        assert post(waiter, f"orders/{part_id}/payments", {"method": "card", "amount": 3000, "tip": 100}).status_code \
            == 201
    tip_back = post(waiter, f"payments/{paid['card']['payment_id']}/refunds", {"amount": 3300, "reason": "all"})
    assert tip_back.status_code == 201, tip_back.json()  # 3000 of the bill left on the card, and its tip
    abandoned = open_check(waiter, restaurant.create_table(tenant_id=tenant.id, code="GONE"),
                           [{"product_id": "tea", "variant": "small", "quantity": 1}])
    flows.cancel_check(tenant_id=tenant.id, order_id=abandoned["id"])
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()


def test_every_kind_of_mismatch_has_a_planted_case():
    planted = {plant.__name__ for plant in PLANTS}
    assert len(planted) >= len(KINDS) - 1  # order_payment_not_captured is covered below


@pytest.mark.parametrize("plant", PLANTS, ids=lambda plant: plant.__name__[len("plant_"):])
def test_a_planted_mismatch_is_reported_with_its_ids(tenant, other_tenant, shop, plant, capsys):
    kind, subject = plant(tenant, shop)
    report = reconcile(tenant_id=tenant.id)
    found = [m for m in report.mismatches if m.kind == kind]
    assert found, report.table()
    assert subject in {m.subject for m in found}, report.table()
    assert all(m.tenant_slug == tenant.slug for m in report.mismatches)
    # the command prints the table and exits non-zero; the other restaurant stays clean
    with pytest.raises(CommandError, match="mismatch"):
        call_command("reconcile", "--tenant", tenant.slug)
    out = capsys.readouterr().out
    assert kind in out and subject in out
    call_command("reconcile", "--tenant", other_tenant.slug)


def test_an_order_whose_payment_is_not_captured_is_reported(tenant, shop):
    with tenancy.all_tenants():
        Payment.objects.using("payment").filter(pk=shop["second"].payment_id).update(status="pending")
    assert "order_payment_not_captured" in kinds_of(reconcile(tenant_id=tenant.id))


def test_a_fully_refunded_capture_without_an_order_is_not_a_mismatch(tenant, shop):
    info = payment.charge(tenant_id=tenant.id, amount=Money(2000, "MMK"), method="card", idempotency_key="stray",
                          reference=str(uuid.uuid4()))
    payment.refund(tenant_id=tenant.id, payment_id=info.id, amount=Money(2000, "MMK"), idempotency_key="stray-back",
                   reason="no order")
    assert reconcile(tenant_id=tenant.id).clean


def test_date_limits_orders_captures_and_sales_to_the_restaurants_day(tenant, shop):
    today = timezone.localdate()
    plant_capture_differs(tenant, shop)
    assert "order_capture_differs" in kinds_of(reconcile(tenant_id=tenant.id, day=today))
    yesterday = reconcile(tenant_id=tenant.id, day=today - timedelta(days=1))
    assert (yesterday.orders, yesterday.payments, yesterday.sales) == (0, 0, 0) and yesterday.clean
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("reconcile", "--date", "31/12/2026")
    with pytest.raises(CommandError, match="No restaurant"):
        call_command("reconcile", "--tenant", "no-such-place")


def test_the_checker_reads_in_batches_whatever_the_number_of_orders(tenant, shop):
    def queries() -> int:
        contexts = [CaptureQueriesContext(connections[alias]) for alias in connections]
        for context in contexts:
            context.__enter__()
        try:
            assert reconcile(tenant_id=tenant.id).clean
        finally:
            for context in contexts:
                context.__exit__(None, None, None)
        return sum(len(context.captured_queries) for context in contexts)

    before = queries()
    for n in range(4):
        saga.place_order(tenant_id=tenant.id, idempotency_key=f"more-{n}", data=order_body(
            items=[{"product_id": "tea", "variant": "small", "quantity": 1}], payment={"method": "card"}))
    assert queries() == before


def test_findings_open_one_alert_each_that_managers_see_for_their_restaurant_only(tenant, other_tenant, shop, client):
    plant_capture_differs(tenant, shop)
    report = reconcile()
    assert open_alerts(report) == {"opened": 1, "refreshed": 0}
    assert open_alerts(reconcile()) == {"opened": 0, "refreshed": 1}  # seen again: the same alert
    with tenancy.all_tenants():
        alert = ReconcileAlert.objects.get()
    assert (alert.kind, alert.subject, alert.times_seen, alert.tenant_id) == (
        "order_capture_differs", str(shop["second"].id), 2, tenant.id)
    manager = User.objects.create_user("boss", password="pw-123456", tenant_id=tenant.id, role="manager",
                                       is_staff=True)
    theirs = User.objects.create_user("them", password="pw-123456", tenant_id=other_tenant.id, role="manager",
                                      is_staff=True)
    client.force_login(manager)
    page = client.get("/admin/ops/reconcilealert/").content.decode()
    assert "order_capture_differs" in page and str(shop["second"].id) in page
    response = client.post("/admin/ops/reconcilealert/", {"action": "close_selected", "_selected_action": [alert.pk]})
    assert response.status_code == 302
    with tenancy.all_tenants():
        assert ReconcileAlert.objects.get().status == "closed"
    client.force_login(theirs)
    assert "order_capture_differs" not in client.get("/admin/ops/reconcilealert/?status=closed").content.decode()


def test_the_command_can_open_alerts_as_the_nightly_run_does(tenant, shop):
    plant_cache_differs(tenant, shop)
    with pytest.raises(CommandError):
        call_command("reconcile", "--open-alerts")
    with tenancy.all_tenants():
        assert ReconcileAlert.objects.filter(kind="stock_cache_differs", status="open").count() == 1


def test_reconcile_runs_nightly_in_beat_and_in_the_embedded_scheduler(settings, tenant, shop):
    from datetime import UTC, datetime

    from celery.schedules import crontab

    from ops.tasks import reconcile_nightly
    from pos.embedded import EmbeddedBeat

    entry = settings.CELERY_BEAT_SCHEDULE["ops.reconcile"]
    assert entry["task"] == "ops.reconcile" and isinstance(entry["schedule"], crontab)
    now = datetime(2026, 11, 30, 2, 29, 0, tzinfo=UTC)
    beat = EmbeddedBeat({"ops.reconcile": {"task": "ops.reconcile", "schedule": crontab(hour=2, minute=30)}},
                        clock=lambda: now)
    next_run: dict[str, float] = {}
    beat.run_due(0.0, next_run)
    assert beat.runs["ops.reconcile"] == 0 and next_run["ops.reconcile"] == pytest.approx(60.0, abs=1)
    beat.run_due(61.0, next_run)
    assert beat.runs["ops.reconcile"] == 1
    plant_ledger_differs(tenant, shop)  # the ledger is checked whatever the day
    assert reconcile_nightly.apply().get()["opened"] == 2  # the ledger, and pos_core's copy now differs
    with tenancy.all_tenants():
        assert set(ReconcileAlert.objects.values_list("kind", flat=True)) == {"ledger_differs", "stock_cache_differs"}
