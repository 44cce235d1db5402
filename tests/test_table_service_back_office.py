"""Table checks in the back office: the order page of an open, a split and a multi-tender check, the stale-check
flag on the list and the home page, tips apart, and cancelling abandoned checks (stock released, audited, never a
check with money taken)."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from modules.accounts.models import AuditEntry, User
from modules.pos_core.models import Order
from modules.pos_core.table_service import store
from modules.pos_core.tests.conftest import available, make_catalog
from modules.pos_core.tests.test_table_service import open_check, post
from modules.restaurant import api as restaurant
from pos import tenancy
from pos.money import Money

pytestmark = pytest.mark.django_db(databases="__all__")


def text(response) -> str:
    assert response.status_code == 200, response.status_code
    return re.sub(r"\s+", " ", response.content.decode())


@pytest.fixture
def manager(client, tenant):
    user = User.objects.create_user("boss", password="pw-123456!", tenant_id=tenant.id, role="manager",
                                    is_staff=True)
    client.force_login(user)
    return user


@pytest.fixture
def dinner(tenant, api):
    """An open check, a check paid by cash and card with a tip, and a check split in two (one part paid)."""
    make_catalog(tenant.id)
    tables = [restaurant.create_table(tenant_id=tenant.id, code=f"T{n}") for n in range(1, 4)]
    still_open = open_check(api, tables[0], [{"product_id": "mohinga", "quantity": 1}])
    paid = open_check(api, tables[1], [{"product_id": "mohinga", "quantity": 2}])
    post(api, f"orders/{paid['id']}/payments", {"method": "cash", "amount": 2000})
    post(api, f"orders/{paid['id']}/payments", {"method": "card", "amount": 4000, "tip": 300})
    split = open_check(api, tables[2], [{"product_id": "mohinga", "quantity": 2}])
    parent = post(api, f"orders/{split['id']}/split", {"by": "equal", "count": 2}).json()
    post(api, f"orders/{parent['part_ids'][0]}/payments", {"method": "card", "amount": 3000, "tip": 200})
    return {"open": still_open, "paid": paid, "split": parent}


def page_of(client, order) -> str:
    return text(client.get(f"/admin/pos_core/order/{order['id']}/change/"))


def test_an_open_check_shows_what_is_due_and_offers_no_refund(client, manager, dinner):
    page = page_of(client, dinner["open"])
    assert 'id="check-paid">0 MMK<' in page and 'id="check-due">3,000 MMK<' in page
    assert 'id="refund-link"' not in page and "No payment yet." in page


def test_a_check_paid_by_several_tenders_lists_each_with_its_tip(client, manager, dinner):
    page = page_of(client, dinner["paid"])
    tenders = page[page.index('id="order-tenders"'):]
    assert tenders.count('class="tender"') == 2
    assert "<td>cash</td><td>Captured</td><td>2,000 MMK</td><td>0 MMK</td> <td>2,000 MMK</td>" in tenders
    assert "<td>card</td><td>Captured</td><td>4,000 MMK</td><td>300 MMK</td> <td>4,300 MMK</td>" in tenders
    assert 'id="check-paid">6,000 MMK<' in page and 'id="check-tips">300 MMK<' in page
    assert 'id="check-due"' not in page  # completed
    assert 'id="refundable">6,000 MMK<' in page and 'id="refund-link"' in page


def test_a_split_check_lists_its_parts_and_the_tenders_they_took(client, manager, dinner):
    page = page_of(client, dinner["split"])
    assert "split by equal" in page and 'id="order-parts"' in page
    parts = page[page.index('id="order-parts"'):]
    assert parts.count("/admin/pos_core/order/") == 2 and "Completed" in parts and "Open" in parts
    tenders = page[page.index('id="order-tenders"'):]
    assert f"<td>{dinner['split']['number']}-1</td><td>card</td>" in tenders
    part = page_of(client, {"id": dinner["split"]["part_ids"][1]})
    assert "a part of a split check" in part and 'id="check-due">3,000 MMK<' in part


def test_the_order_list_shows_service_paid_tips_and_filters_checks_open_too_long(client, manager, tenant, dinner):
    listing = text(client.get("/admin/pos_core/order/?service=table"))
    assert listing.count('class="field-number"') >= 3 and "split" in listing
    assert store.checks_flag_stale(now=timezone.now() + timedelta(hours=5)) >= 1
    flagged = text(client.get("/admin/pos_core/order/?flagged=yes"))
    assert dinner["open"]["number"] in flagged and dinner["paid"]["number"] not in flagged
    assert "open too long" in flagged
    page = page_of(client, dinner["open"])
    assert 'id="check-flagged"' in page


def test_the_home_page_shows_tips_apart_and_links_to_checks_open_too_long(client, manager, tenant, dinner):
    page = text(client.get("/admin/"))
    # the split check is not complete (one part still due): not a sale yet, nor its part's tip
    assert 'id="today-tips">300 MMK<' in page and f'id="today-gross">{Money(6000, "MMK")}<' in page
    assert "<td>cash</td><td>1</td><td>2,000 MMK</td><td>0 MMK</td><td>2,000 MMK</td><td>0 MMK</td>" in page
    assert "<td>card</td><td>1</td><td>4,000 MMK</td><td>0 MMK</td><td>4,000 MMK</td><td>300 MMK</td>" in page
    assert 'id="flagged-checks"' not in page
    store.checks_flag_stale(now=timezone.now() + timedelta(hours=5))
    page = text(client.get("/admin/"))
    assert 'id="flagged-checks"' in page and "?flagged=yes" in page
    assert re.search(r'id="flagged-checks"><a [^>]*>2 checks open too long', page)  # the open one, the split one
    eod = text(client.get("/admin/pos_core/order/end-of-day/"))
    assert 'id="eod-tips">300 MMK<' in eod and "<td>card</td><td>1</td><td>4,000 MMK</td>" in eod


def test_cancelling_abandoned_checks_releases_stock_is_audited_and_refuses_checks_with_money(
        client, manager, tenant, dinner):
    assert available(tenant.id, "mohinga") == 10 - 1 - 2 - 2
    ids = [dinner["open"]["id"], dinner["paid"]["id"], dinner["split"]["id"]]
    response = client.post("/admin/pos_core/order/", {"action": "cancel_abandoned_checks", "_selected_action": ids},
                           follow=True)
    page = text(response)
    assert "1 check(s) cancelled" in page
    assert page.count("Not cancelled:") == 2 and "refund it instead" in page
    with tenancy.tenant_context(tenant.id):
        statuses = dict(Order.objects.filter(pk__in=ids).values_list("pk", "status"))
        [entry] = AuditEntry.objects.filter(action="order.cancelled")
    assert [statuses[Order._meta.pk.to_python(i)] for i in ids] == ["cancelled", "completed", "open"]
    assert entry.object_id == dinner["open"]["id"] and entry.actor == "user:boss"
    assert entry.before["status"] == "open" and entry.after["status"] == "cancelled"
    assert available(tenant.id, "mohinga") == 10 - 2 - 2  # the abandoned check's mohinga is back on sale


def test_the_sales_report_by_payment_method_counts_each_tender_with_tips_apart(client, manager, tenant, dinner):
    day = timezone.localdate().isoformat()
    page = text(client.get(f"/admin/pos_core/order/sales-report/?date_from={day}&date_to={day}"
                           "&group_by=payment_method"))
    rows = page[page.index('id="report-rows"'):]
    assert "<th>Tips</th>" in rows and "split" not in rows
    assert "<td>cash</td> <td>1</td><td>1</td><td>2,000 MMK</td><td>0 MMK</td><td>2,000 MMK</td><td>0 MMK</td>" in rows
    assert "<td>card</td> <td>1</td><td>1</td><td>4,000 MMK</td><td>0 MMK</td><td>4,000 MMK</td><td>300 MMK</td>" in rows
    csv = client.get(f"/admin/pos_core/order/sales-report/?date_from={day}&date_to={day}&group_by=payment_method"
                     "&format=csv").content.decode()
    assert csv.splitlines()[0] == "payment_method,quantity,orders,gross,refunds,net,tips,currency"
    assert "card,1,1,4000,0,4000,300,MMK" in csv.splitlines()
