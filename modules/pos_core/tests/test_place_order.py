"""Placing orders through the saga and the terminal API: happy path, replay, bad input, stock, declines."""

from __future__ import annotations

import pytest
from django.db import connections

from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.pos_core import saga
from modules.pos_core.errors import STOCK_CHANGED_DETAIL, InvalidOrder
from modules.pos_core.models import Order, OrderSaga, SagaStatus
from pos.tenancy import all_tenants

from .conftest import available, new_key, order_body

pytestmark = pytest.mark.django_db(databases="__all__")


def post_order(api, body, key=None):
    headers = {} if key is False else {"HTTP_IDEMPOTENCY_KEY": key or new_key()}
    return api.post("/api/v1/orders", body, format="json", **headers)


def sagas():
    with all_tenants():
        return list(OrderSaga.objects.all())


def test_happy_path_reserves_charges_records_and_commits(api, tenant, catalog):
    response = post_order(api, order_body())
    assert response.status_code == 201, response.json()
    order = response.json()
    # 2 x (3000 + 500 egg) + 1 x 1500 large tea = 8500, tax 5 % included, cash rounds to 50 (exact here)
    assert order["totals"]["subtotal"] == {"amount": 8500, "currency": "MMK"}
    assert order["totals"]["tax"]["amount"] == 405  # 8500 * 5 / 105
    assert order["totals"]["grand_total"]["amount"] == 8500
    assert order["payment"]["method"] == "cash"
    assert order["payment"]["change_due"]["amount"] == 1500
    assert order["status"] == "completed"
    first = order["items"][0]
    assert first["product_names"] == {"en": "Mohinga", "my": "မုန့်ဟင်းခါး"}
    assert first["category_id"] == "noodles"
    assert first["options"][0]["key"] == "egg" and first["options"][0]["price_delta"]["amount"] == 500
    assert first["line_total"]["amount"] == 7000
    assert available(tenant.id, "mohinga") == 8
    assert available(tenant.id, "tea", "large") == 9
    info = payment.get_payment(tenant_id=tenant.id, payment_id=order["payment"]["id"])
    assert info.captured.amount == 8500
    (row,) = sagas()
    assert row.status == SagaStatus.COMPLETED and row.step == "recorded"
    with all_tenants():
        actions = [e.action for e in row.log.all() if e.outcome == "ok"]
    assert actions == ["start", "reserve", "charge", "record"]
    # The stock was taken as sold before the charge, in one inventory call: no hold, nothing left to commit.
    reservation = inventory.find_reservation(tenant_id=tenant.id, key=f"saga-{row.id}")
    assert reservation.status == "committed" and row.reservation_committed
    movements = inventory.list_movements(tenant_id=tenant.id, references=[reservation.id])
    assert sorted((m.kind, m.product_id, m.quantity) for m in movements) == [("sale", "mohinga", 2), ("sale", "tea", 1)]


def test_cash_rounding_is_an_explicit_line(api, tenant, catalog):
    body = order_body(items=[{"product_id": "mohinga", "quantity": 1, "options": ["fritter"]},
                             {"product_id": "tea", "variant": "small", "quantity": 1}])  # 4300
    tenant_body = {**body, "payment": {"method": "cash", "tendered": 5000}}
    response = post_order(api, tenant_body)
    assert response.status_code == 201, response.json()
    totals = response.json()["totals"]
    assert totals["total"]["amount"] == 4300
    assert totals["rounding"]["amount"] == 0
    body = order_body(items=[{"product_id": "mohinga", "quantity": 1, "options": ["fritter", "egg"]},
                             {"product_id": "tea", "variant": "small", "quantity": 1}])  # 4800
    response = post_order(api, {**body, "payment": {"method": "cash"}})
    assert response.json()["totals"]["rounding"]["amount"] == 0
    tea_only = post_order(api, {"items": [{"product_id": "mohinga", "quantity": 1, "options": ["egg", "fritter"]}],
                                "payment": {"method": "card"}})
    assert tea_only.json()["totals"]["rounding"]["amount"] == 0


def test_replay_with_the_same_key_returns_the_same_order_and_charges_once(api, tenant, catalog):
    key = new_key()
    first = post_order(api, order_body(), key)
    second = post_order(api, order_body(), key)
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    assert available(tenant.id, "mohinga") == 8
    with all_tenants():
        assert Order.objects.count() == 1
    # Even without the HTTP idempotency record, the saga keyed by the same key answers the same order.
    again = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert str(again.id) == first.json()["id"]
    assert available(tenant.id, "mohinga") == 8


def test_a_retry_after_the_menu_changed_still_answers_the_first_order(tenant, catalog):
    """The key is not looked up before validation: a retry whose body no longer validates (the product went off
    sale since, or a different body) still gets the first answer, and nothing is charged or reserved again."""
    from modules.inventory import api as inventory

    key = new_key()
    first = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    product = inventory.get_product(tenant_id=tenant.id, product_id="mohinga")
    inventory.update_product(tenant_id=tenant.id, product_id="mohinga", expected_version=product.version,
                             changes={"is_active": False})
    again = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert again.id == first.id
    other = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data={"items": []})
    assert other.id == first.id
    assert available(tenant.id, "mohinga") == 8
    with all_tenants():
        assert Order.objects.count() == 1
    # A new key with the same body is validated, and refused.
    with pytest.raises(InvalidOrder):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    assert len(sagas()) == 1


def test_missing_idempotency_key_starts_nothing(api, tenant, catalog):
    response = post_order(api, order_body(), key=False)
    assert response.status_code == 400
    assert "Idempotency-Key" in response.json()["title"]
    assert sagas() == []


BAD = [
    ("empty items", {"items": []}, "items"),
    ("unknown product", {"items": [{"product_id": "nope", "quantity": 1}]}, "items[0].product_id"),
    ("unknown variant", {"items": [{"product_id": "tea", "variant": "huge", "quantity": 1}]}, "items[0].variant"),
    ("variant missing", {"items": [{"product_id": "tea", "quantity": 1}]}, "items[0].variant"),
    ("zero quantity", {"items": [{"product_id": "mohinga", "quantity": 0}]}, "items[0].quantity"),
    ("negative quantity", {"items": [{"product_id": "mohinga", "quantity": -2}]}, "items[0].quantity"),
    ("fractional quantity", {"items": [{"product_id": "mohinga", "quantity": 1.5}]}, "items[0].quantity"),
    ("string quantity", {"items": [{"product_id": "mohinga", "quantity": "2"}]}, "items[0].quantity"),
    ("too many lines", {"items": [{"product_id": "mohinga", "quantity": 1}] * 51}, "items"),
    ("unknown option", {"items": [{"product_id": "mohinga", "quantity": 1, "options": ["bacon"]}]},
     "items[0].options"),
    ("too many options", {"items": [{"product_id": "mohinga", "quantity": 1, "options": ["egg", "fritter", "egg"]}]},
     "items[0].options"),
    ("unknown method", {"payment": {"method": "bitcoin"}}, "payment.method"),
    ("no method", {"payment": {}}, "payment.method"),
    ("tender too small", {"payment": {"method": "cash", "tendered": 100}}, "payment.tendered"),
    # 8,500 due (two mohinga with egg, one large tea): the default largest change is 100,000
    ("tender absurdly large", {"payment": {"method": "cash", "tendered": 2**63 - 1}}, "payment.tendered"),
    ("tender above due plus the largest change", {"payment": {"method": "cash", "tendered": 108_501}},
     "payment.tendered"),
    ("unknown table", {"table_id": "no-such-table"}, "table_id"),
]


@pytest.mark.parametrize(("case", "override", "field"), BAD, ids=[case for case, _, _ in BAD])
def test_bad_input_is_refused_with_nothing_started(api, tenant, catalog, case, override, field):
    response = post_order(api, order_body(**override))
    assert response.status_code == 400, response.json()
    body = response.json()
    assert response["Content-Type"].startswith("application/problem+json")
    assert field in [error["field"] for error in body["errors"]], body
    assert sagas() == []
    assert available(tenant.id, "mohinga") == 10
    assert payment.get_payments(tenant_id=tenant.id, payment_ids=[]) == {}


def test_tender_up_to_due_plus_the_largest_change_is_taken(api, tenant, catalog):
    response = post_order(api, order_body(payment={"method": "cash", "tendered": 108_500}))
    assert response.status_code == 201, response.json()
    assert response.json()["payment"]["change_due"]["amount"] == 100_000


def test_disabled_payment_method_is_refused(api, tenant, catalog, monkeypatch):
    monkeypatch.setattr(payment, "accepted_methods", lambda *, tenant_id: ["cash"])
    response = post_order(api, order_body(payment={"method": "card"}))
    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "method_not_accepted"
    assert sagas() == []


def test_table_of_another_tenant_is_refused(api, tenant, other_tenant, catalog):
    from modules.restaurant import api as restaurant

    theirs = restaurant.create_table(tenant_id=other_tenant.id, code="X9")
    response = post_order(api, order_body(table_id=theirs.id))
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "table_id"
    assert sagas() == []


def test_stock_changed_since_the_catalog_read_is_a_409_with_current_levels(api, tenant, catalog):
    response = post_order(api, order_body(items=[{"product_id": "mohinga", "quantity": 11}],
                                            payment={"method": "card"}))
    assert response.status_code == 409
    body = response.json()
    assert body["detail"] == STOCK_CHANGED_DETAIL
    assert body["lines"] == [{"product_id": "mohinga", "variant": None, "requested": 11, "available": 10}]
    (row,) = sagas()
    assert row.status == SagaStatus.COMPENSATED
    assert available(tenant.id, "mohinga") == 10


def test_declined_payment_is_402_and_the_reservation_is_released(api, tenant, catalog, monkeypatch):
    def decline(**kwargs):
        raise payment.PaymentDeclined("Card declined by the issuer.", payment_id="p-declined", reason="insufficient")

    monkeypatch.setattr(payment, "charge", decline)
    response = post_order(api, order_body(payment={"method": "card"}))
    assert response.status_code == 402
    assert response.json()["payment_id"] == "p-declined"
    assert available(tenant.id, "mohinga") == 10
    assert available(tenant.id, "tea", "large") == 10
    (row,) = sagas()
    assert row.status == SagaStatus.COMPENSATED and row.step == "released"


def test_order_on_a_table_is_an_open_tab(api, tenant, catalog, table):
    response = post_order(api, order_body(table_id=table.id))
    assert response.status_code == 201, response.json()
    assert response.json()["status"] == "open"
    assert response.json()["table_id"] == table.id


def test_query_count_of_a_placement_is_bounded(api, tenant, catalog, django_assert_max_num_queries):
    # Saga row, step log and order: each step persists its intent and outcome (savepoints count here too).
    with django_assert_max_num_queries(60, connection=connections["pos_core"]):
        response = post_order(api, order_body())
    assert response.status_code == 201
