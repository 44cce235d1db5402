"""One refund model: whatever door a refund comes through (the order endpoint, the payment endpoint, the admin
on an order or on a payment), the order, its lines, receipt, end-of-day and sales reports count it exactly once,
and nothing is refunded beyond what was sold or paid, also under concurrency (PostgreSQL)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from conftest import at_once, make_terminal_client
from modules.accounts.models import User
from modules.payment import api as payment
from modules.payment.models import ProviderBehaviour
from modules.pos_core import refunds, saga
from modules.pos_core.errors import RefundRejected
from modules.pos_core.models import Order, OrderRefund
from modules.pos_core.tests.conftest import available, make_catalog, order_body
from ops.reconcile import reconcile
from pos import tenancy
from pos.money import Money

# Committed transactions: payment.refunded reaches pos_core after payment's commit, as in production.
pytestmark = pytest.mark.django_db(databases="__all__", transaction=True)


@pytest.fixture(autouse=True)
def _events_in_process(settings):
    settings.EVENTS_IN_PROCESS = True


@pytest.fixture
def placed(tenant):
    make_catalog(tenant.id)
    return saga.place_order(tenant_id=tenant.id, idempotency_key="o-1", data=order_body(payment={"method": "card"}))


def reload(order) -> Order:
    with tenancy.all_tenants():
        return Order.objects.get(pk=order.id)


def order_refunds(order) -> list[OrderRefund]:
    with tenancy.all_tenants():
        return list(OrderRefund.objects.filter(order_id=order.id).order_by("created_at"))


def refunded_on_payment(tenant, order) -> int:
    return payment.get_payment(tenant_id=tenant.id, payment_id=order.payment_id).refunded.amount


def test_a_refund_on_the_payment_endpoint_reaches_the_order_receipt_and_reports(tenant, placed):
    manager = make_terminal_client(tenant, "manager")
    response = manager.post(f"/api/v1/payments/{placed.payment_id}/refunds", {"amount": 1000, "reason": "cold tea"},
                            format="json", HTTP_IDEMPOTENCY_KEY="pay-door-1")
    assert response.status_code == 201, response.json()
    # the same request again: replayed, still once
    assert manager.post(f"/api/v1/payments/{placed.payment_id}/refunds", {"amount": 1000, "reason": "cold tea"},
                        format="json", HTTP_IDEMPOTENCY_KEY="pay-door-1").status_code == 201
    order = reload(placed)
    assert (order.refunded, order.status) == (1000, "partially_refunded")
    (refund,) = order_refunds(placed)
    assert (refund.source, refund.status, refund.amount, refund.payment_refund_id) == (
        "payment", "succeeded", 1000, response.json()["id"])
    receipt = manager.get(f"/api/v1/orders/{placed.id}/receipt").json()
    assert "1,000" in str(receipt) or "1000" in str(receipt)
    day = timezone.localdate().isoformat()
    eod = manager.get(f"/api/v1/reports/end-of-day?date={day}").json()
    assert (eod["refunds"], eod["net"]) == (1000, placed.grand_total - 1000)
    sales = manager.get(f"/api/v1/reports/sales?from={day}&to={day}&group_by=product").json()
    assert sum(row["refunds"] for row in sales["rows"]) == 1000
    # the order's own refund is now capped by what is really left, not refused wrongly
    rest = placed.grand_total - 1000
    answer = manager.post(f"/api/v1/orders/{placed.id}/refund", {"amount": rest + 1, "reason": "all"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="order-door-over")
    assert answer.status_code == 422 and str(rest) in answer.json()["detail"]
    answer = manager.post(f"/api/v1/orders/{placed.id}/refund", {"reason": "all"}, format="json",
                          HTTP_IDEMPOTENCY_KEY="order-door-rest")
    assert answer.status_code == 201, answer.json()
    assert (reload(placed).refunded, reload(placed).status) == (placed.grand_total, "refunded")
    assert refunded_on_payment(tenant, placed) == placed.grand_total
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


def test_an_order_refund_is_counted_once_though_payment_also_announces_it(tenant, placed, api):
    item = placed.items.get(product_id="mohinga")
    body = {"items": [{"item_id": str(item.id), "quantity": 1}], "restock": True, "reason": "spilled"}
    first = api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY="r-once")
    assert first.status_code == 201, first.json()
    assert first.json()["status"] == "succeeded" and first.json()["source"] == "order"
    assert api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json",
                    HTTP_IDEMPOTENCY_KEY="r-once").json()["id"] == first.json()["id"]
    (refund,) = order_refunds(placed)
    assert refund.amount == refunded_on_payment(tenant, placed) == reload(placed).refunded
    assert available(tenant.id, "mohinga") == 9  # 10 - 2 sold + 1 back
    assert reconcile(tenant_id=tenant.id).clean


def test_the_admin_refunds_on_a_payment_and_on_an_order_reach_the_order(tenant, placed, client):
    manager = User.objects.create_user("boss", password="pw-123456", tenant_id=tenant.id, role="manager",
                                       is_staff=True)
    client.force_login(manager)
    response = client.post("/admin/payment/payment/", {
        "action": "refund", "_selected_action": [placed.payment_id], "apply": "1", "amount": 500,
        "reason": "wrong change", "key": "admin-pay-1"})
    assert response.status_code in (200, 302)
    assert reload(placed).refunded == 500
    client.post("/admin/pos_core/order/", {"action": "refund_in_full", "_selected_action": [str(placed.id)]})
    order = reload(placed)
    assert (order.refunded, order.status) == (placed.grand_total, "refunded")
    assert [r.source for r in order_refunds(placed)] == ["payment", "order"]
    assert refunded_on_payment(tenant, placed) == placed.grand_total
    assert reconcile(tenant_id=tenant.id).clean


def test_a_refund_payment_refuses_frees_its_units_and_answers_the_same_every_time(tenant, placed, api):
    with tenancy.tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, refund_behaviour="decline")
    item = placed.items.get(product_id="mohinga")
    body = {"items": [{"item_id": str(item.id), "quantity": 2}], "reason": "cold"}
    for _ in range(2):
        answer = api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY="r-no")
        assert answer.status_code == 422 and "Nothing was refunded" in answer.json()["detail"], answer.json()
    with tenancy.all_tenants():
        ProviderBehaviour.objects.all().delete()
    item.refresh_from_db()
    assert item.refunded_quantity == 0 and reload(placed).refunded == 0
    assert api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json",
                    HTTP_IDEMPOTENCY_KEY="r-yes").status_code == 201
    assert reconcile(tenant_id=tenant.id).clean


def test_a_refund_whose_answer_is_lost_stays_pending_then_is_finished_by_recovery(tenant, placed, api):
    with tenancy.tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, refund_behaviour="lost", lookup_behaviour="unavailable")
    item = placed.items.get(product_id="mohinga")
    body = {"items": [{"item_id": str(item.id), "quantity": 1}], "restock": True, "reason": "cold"}
    answer = api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY="r-lost")
    assert answer.status_code == 503 and answer.json()["type"].endswith("refund-pending"), answer.json()
    (refund,) = order_refunds(placed)
    assert refund.status == "pending"
    item.refresh_from_db()
    assert item.refunded_quantity == 1  # held: a second refund of the line cannot take it again
    with pytest.raises(RefundRejected):
        refunds.refund_order(tenant_id=tenant.id, order_id=placed.id, idempotency_key="r-again",
                             items=[{"item_id": str(item.id), "quantity": 2}])
    with tenancy.all_tenants():
        ProviderBehaviour.objects.all().delete()  # the provider answers lookups again
    summary = refunds.recover_refunds(older_than=timezone.timedelta(0))
    assert summary["succeeded"] == 1, summary
    assert (reload(placed).refunded, refunded_on_payment(tenant, placed)) == (refund.amount, refund.amount)
    assert available(tenant.id, "mohinga") == 9
    assert api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json",
                    HTTP_IDEMPOTENCY_KEY="r-lost").status_code == 201
    assert reconcile(tenant_id=tenant.id).clean


@pytest.mark.usefixtures("postgres_only")
def test_a_refund_whose_own_connection_is_lost_answers_503_and_the_retry_finishes_it_once(tenant, placed, api,
                                                                                        monkeypatch):
    """pos_core's connection is killed (pg_terminate_backend) right after payment refunded: the terminal gets a
    503 problem (never a 500), nothing is stored as the key's answer, and the retry with the key finishes the
    refund once on both sides."""
    from conftest import terminate_own_backend
    from modules.pos_core.tests.seams import Seam

    Seam(monkeypatch).after("refund", terminate_own_backend("pos_core"))
    item = placed.items.get(product_id="mohinga")
    body = {"items": [{"item_id": str(item.id), "quantity": 1}], "restock": True, "reason": "cold"}
    lost = api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY="r-cut")
    assert lost.status_code == 503, lost.content
    assert lost["Content-Type"] == "application/problem+json" and lost["Retry-After"]
    assert lost.json()["type"].endswith("database-unavailable")
    monkeypatch.undo()
    again = api.post(f"/api/v1/orders/{placed.id}/refund", body, format="json", HTTP_IDEMPOTENCY_KEY="r-cut")
    assert again.status_code == 201, again.json()
    (refund,) = order_refunds(placed)
    assert refund.status == "succeeded"
    assert (reload(placed).refunded, refunded_on_payment(tenant, placed)) == (refund.amount, refund.amount)
    assert available(tenant.id, "mohinga") == 9
    assert reconcile(tenant_id=tenant.id).clean


# --- PostgreSQL: twenty at once -----------------------------------------------------------------------


postgres = pytest.mark.postgres


@postgres
@pytest.mark.usefixtures("postgres_only")
def test_twenty_concurrent_item_refunds_of_a_line_sold_once_refund_it_once(tenant):
    make_catalog(tenant.id)
    order = saga.place_order(tenant_id=tenant.id, idempotency_key="one-tea", data=order_body(
        items=[{"product_id": "tea", "variant": "large", "quantity": 1},
               {"product_id": "mohinga", "quantity": 1}], payment={"method": "card"}))
    line = order.items.get(product_id="tea")
    results = at_once(20, lambda i: refunds.refund_order(
        tenant_id=tenant.id, order_id=order.id, idempotency_key=f"tea-{i}", amount=201, restock=True,
        items=[{"item_id": str(line.id), "quantity": 1}], reason="raced"))
    won = [r for r in results if isinstance(r, OrderRefund)]
    assert len(won) == 1 and all(isinstance(r, RefundRejected) for r in results if r not in won), results
    line.refresh_from_db()
    assert line.refunded_quantity == 1
    assert (reload(order).refunded, refunded_on_payment(tenant, order)) == (201, 201)
    assert available(tenant.id, "tea", "large") == 10  # 10 - 1 sold + 1 back, no phantom units
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


@postgres
@pytest.mark.usefixtures("postgres_only")
def test_twenty_concurrent_full_refunds_of_one_order_refund_it_once(tenant, placed):
    results = at_once(20, lambda i: refunds.refund_order(
        tenant_id=tenant.id, order_id=placed.id, idempotency_key=f"all-{i}", restock=True, reason="raced"))
    won = [r for r in results if isinstance(r, OrderRefund)]
    assert len(won) == 1 and all(isinstance(r, RefundRejected) for r in results if r not in won), results
    assert (reload(placed).refunded, refunded_on_payment(tenant, placed)) == (placed.grand_total, placed.grand_total)
    assert available(tenant.id, "mohinga") == 10 and available(tenant.id, "tea", "large") == 10
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


@postgres
@pytest.mark.usefixtures("postgres_only")
def test_concurrent_refunds_through_both_doors_never_pass_what_was_paid(tenant, placed):
    share = 1000  # 20 x 1000 asked of an 8500 order: at most 8 fit

    def refund(index: int):
        if index % 2:
            return refunds.refund_order(tenant_id=tenant.id, order_id=placed.id, idempotency_key=f"o-{index}",
                                        amount=share, reason="order door")
        return payment.refund(tenant_id=tenant.id, payment_id=placed.payment_id, amount=Money(share, "MMK"),
                              idempotency_key=f"p-{index}", reason="payment door")

    results = at_once(20, refund)
    won = [r for r in results if isinstance(r, (OrderRefund, payment.RefundInfo))]
    refused = [r for r in results if isinstance(r, (RefundRejected, payment.OverRefund))]
    assert len(won) + len(refused) == 20, results
    assert len(won) == placed.grand_total // share
    order = reload(placed)
    assert order.refunded == refunded_on_payment(tenant, placed) == len(won) * share
    with tenancy.all_tenants():
        succeeded = OrderRefund.objects.filter(order_id=placed.id, status="succeeded")
        assert succeeded.count() == len(won)
        assert len({r.payment_refund_id for r in succeeded}) == len(won)
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


def test_refunds_pending_and_failed_never_count_in_reports(tenant, placed, api):
    with tenancy.tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, refund_behaviour="decline")
    assert api.post(f"/api/v1/orders/{placed.id}/refund", {"amount": 700, "reason": "x"}, format="json",
                    HTTP_IDEMPOTENCY_KEY="fails").status_code == 422
    day = timezone.localdate().isoformat()
    eod = make_terminal_client(tenant, "manager").get(f"/api/v1/reports/end-of-day?date={day}").json()
    assert (eod["refunds"], eod["refund_count"]) == (0, 0)
    assert [r.status for r in order_refunds(placed)] == ["failed"]


def test_a_table_check_refund_is_counted_once_though_its_tenders_announce_it(tenant, api):
    from modules.pos_core.tests.test_table_service import open_check, post
    from modules.restaurant import api as restaurant

    make_catalog(tenant.id)
    table = restaurant.create_table(tenant_id=tenant.id, code="T9", area="Main", seats=4)
    manager = make_terminal_client(tenant, "manager")
    check = open_check(api, table, [{"product_id": "mohinga", "quantity": 2}])
    paid = post(api, f"orders/{check['id']}/payments", {"method": "card", "amount": 6000})
    assert paid.json()["order"]["status"] == "completed", paid.json()
    refund = post(manager, f"orders/{check['id']}/refund", {"amount": 2500, "reason": "cold"}, key="t-refund")
    assert refund.status_code == 201, refund.json()
    with tenancy.all_tenants():
        order = Order.objects.get(pk=check["id"])
        assert OrderRefund.objects.filter(order_id=order.id).count() == 1
    assert order.refunded == 2500
    assert payment.get_payment(tenant_id=tenant.id, payment_id=paid.json()["payment_id"]).refunded.amount == 2500


# --- a table check: a refund made on one tender's payment -------------------------------------------------

@pytest.fixture
def check(tenant, api):
    """A check of three mohinga (9000) paid by cash 3000 and card 6000 with a 500 tip."""
    from modules.pos_core.tests.test_table_service import open_check, post
    from modules.restaurant import api as restaurant

    make_catalog(tenant.id)
    table = restaurant.create_table(tenant_id=tenant.id, code="T7", area="Main", seats=4)
    opened = open_check(api, table, [{"product_id": "mohinga", "quantity": 3}])
    cash = post(api, f"orders/{opened['id']}/payments", {"method": "cash", "amount": 3000}).json()
    card = post(api, f"orders/{opened['id']}/payments", {"method": "card", "amount": 6000, "tip": 500}).json()
    assert card["order"]["status"] == "completed", card
    with tenancy.all_tenants():
        return {"order": Order.objects.get(pk=opened["id"]), "cash": cash, "card": card}


def test_a_refund_on_one_tenders_payment_reaches_the_check_receipt_and_reports_once(tenant, check):
    manager = make_terminal_client(tenant, "manager")
    card_payment = check["card"]["payment_id"]
    body = {"amount": 2000, "reason": "cold soup"}
    response = manager.post(f"/api/v1/payments/{card_payment}/refunds", body, format="json",
                            HTTP_IDEMPOTENCY_KEY="check-pay-door")
    assert response.status_code == 201, response.json()
    assert manager.post(f"/api/v1/payments/{card_payment}/refunds", body, format="json",
                        HTTP_IDEMPOTENCY_KEY="check-pay-door").status_code == 201  # replayed: still once
    order = reload(check["order"])
    assert (order.refunded, order.status) == (2000, "partially_refunded")
    (refund,) = order_refunds(check["order"])
    assert (refund.source, refund.amount, refund.payment_method, refund.payment_refund_id) == (
        "payment", 2000, "card", response.json()["id"])
    detail = manager.get(f"/api/v1/orders/{order.id}").json()
    assert detail["totals"]["refunded"]["amount"] == 2000
    receipt = manager.get(f"/api/v1/orders/{order.id}/receipt").json()
    assert "2,000" in receipt["text"]["en"]
    day = timezone.localdate().isoformat()
    eod = manager.get(f"/api/v1/reports/end-of-day?date={day}").json()
    assert (eod["gross"], eod["refunds"], eod["net"], eod["tips"]) == (9000, 2000, 7000, 500)
    methods = {m["payment_method"]: m for m in eod["payment_methods"]}
    assert (methods["card"]["refunds"], methods["cash"]["refunds"]) == (2000, 0)
    sales = manager.get(f"/api/v1/reports/sales?from={day}&to={day}&group_by=payment_method").json()
    rows = {row["payment_method"]: row for row in sales["rows"]}
    assert (rows["card"]["refunds"], rows["card"]["net"], rows["cash"]["net"]) == (2000, 4000, 3000)
    by_product = manager.get(f"/api/v1/reports/sales?from={day}&to={day}&group_by=product").json()
    assert sum(row["refunds"] for row in by_product["rows"]) == 2000
    # the check's own refund now takes only what is left: 7000, newest tender first (4000 left on the card)
    over = manager.post(f"/api/v1/orders/{order.id}/refund", {"amount": 7001, "reason": "all"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="check-order-over")
    assert over.status_code == 422
    rest = manager.post(f"/api/v1/orders/{order.id}/refund", {"reason": "all"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="check-order-rest")
    assert rest.status_code == 201, rest.json()
    assert (reload(check["order"]).refunded, reload(check["order"]).status) == (9000, "refunded")
    assert payment.get_payment(tenant_id=tenant.id, payment_id=card_payment).refunded.amount == 6000  # tip kept
    assert payment.get_payment(tenant_id=tenant.id, payment_id=check["cash"]["payment_id"]).refunded.amount == 3000
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


def test_a_tenders_tip_given_back_on_the_payment_side_is_not_a_sales_refund(tenant, check):
    card_payment = check["card"]["payment_id"]
    payment.refund(tenant_id=tenant.id, payment_id=card_payment, amount=Money(6500, "MMK"), idempotency_key="all-back",
                   reason="wrong card")
    order = reload(check["order"])
    assert (order.refunded, order.tips, order.status) == (6000, 0, "partially_refunded")
    day = timezone.localdate().isoformat()
    eod = make_terminal_client(tenant, "manager").get(f"/api/v1/reports/end-of-day?date={day}").json()
    assert (eod["refunds"], eod["tips"]) == (6000, 0)
    sales = make_terminal_client(tenant, "manager").get(
        f"/api/v1/reports/sales?from={day}&to={day}&group_by=payment_method").json()
    card = next(row for row in sales["rows"] if row["payment_method"] == "card")
    assert (card["gross"], card["refunds"], card["net"], card["tips"]) == (6000, 6000, 0, 0)
    # The receipt says the tip was given back, not that it was kept.
    receipt = make_terminal_client(tenant, "manager").get(f"/api/v1/orders/{order.id}/receipt").json()
    (tender,) = [t for t in receipt["tenders"] if t["method"] == "card"]
    assert (tender["tip"], tender["tip_refunded"]) == ("500 MMK", "500 MMK"), tender
    assert "Tip given back: 500 MMK" in receipt["text"]["en"], receipt["text"]["en"]
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


def test_the_payment_admin_refunds_a_tender_of_a_check(tenant, check, client):
    manager = User.objects.create_user("boss", password="pw-123456", tenant_id=tenant.id, role="manager",
                                       is_staff=True)
    client.force_login(manager)
    response = client.post("/admin/payment/payment/", {
        "action": "refund", "_selected_action": [check["cash"]["payment_id"]], "apply": "1", "amount": 1000,
        "reason": "wrong change", "key": "admin-check-1"})
    assert response.status_code in (200, 302)
    assert reload(check["order"]).refunded == 1000
    (refund,) = order_refunds(check["order"])
    assert (refund.payment_method, refund.source) == ("cash", "payment")
    assert reconcile(tenant_id=tenant.id).clean


def test_a_checks_own_refund_is_counted_once_though_every_tender_announces_it(tenant, check):
    refund = refunds.refund_order(tenant_id=tenant.id, order_id=check["order"].id, idempotency_key="both-tenders",
                                  amount=8000, reason="all but one")
    assert refund.status == "succeeded"
    assert [(r.source, r.amount) for r in order_refunds(check["order"])] == [("order", 8000)]
    with tenancy.all_tenants():
        assert sorted((t.method, t.amount) for t in refund.tenders.all()) == [("card", 6000), ("cash", 2000)]
    assert reload(check["order"]).refunded == 8000
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()


@postgres
@pytest.mark.usefixtures("postgres_only")
def test_concurrent_refunds_of_a_check_through_both_doors_never_pass_what_its_tenders_paid(tenant, check):
    share = 1000  # 20 x 1000 asked of a 9000 check (the tip is not refundable through the check)
    order = check["order"]

    def refund(index: int):
        if index % 2:
            return refunds.refund_order(tenant_id=tenant.id, order_id=order.id, idempotency_key=f"co-{index}",
                                        amount=share, reason="order door")
        tender = check["card"] if index % 4 else check["cash"]
        return payment.refund(tenant_id=tenant.id, payment_id=tender["payment_id"], amount=Money(share, "MMK"),
                              idempotency_key=f"cp-{index}", reason="payment door")

    results = at_once(20, refund)
    won = [r for r in results if isinstance(r, (OrderRefund, payment.RefundInfo))]
    assert all(isinstance(r, (OrderRefund, payment.RefundInfo, RefundRejected, payment.OverRefund))
               for r in results), results
    given_back = sum(payment.get_payment(tenant_id=tenant.id, payment_id=check[m]["payment_id"]).refunded.amount
                     for m in ("cash", "card"))
    assert given_back == len(won) * share <= 9000 + 500
    order = reload(order)
    with tenancy.all_tenants():
        succeeded = OrderRefund.objects.filter(order_id=order.id, status="succeeded")
        assert succeeded.count() == len(won)
    assert reconcile(tenant_id=tenant.id).clean, reconcile(tenant_id=tenant.id).table()
