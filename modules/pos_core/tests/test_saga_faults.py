"""Failures injected at each step are compensated; crashes between steps are recovered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from modules.payment import api as payment
from modules.pos_core import saga
from modules.pos_core.errors import SagaFailed
from modules.pos_core.models import Order, OrderSaga, SagaStatus
from pos.errors import DomainError
from pos.tenancy import all_tenants

from .conftest import available, new_key, order_body
from .seams import Crash

pytestmark = pytest.mark.django_db(databases="__all__")


class Boom(RuntimeError):
    pass


def only(saga_row=None) -> OrderSaga:
    with all_tenants():
        (row,) = OrderSaga.objects.all()
    return row


def payments_net(tenant_id, payment_id: str) -> int:
    if not payment_id:
        return 0
    info = payment.get_payment(tenant_id=tenant_id, payment_id=payment_id)
    return info.captured.amount - info.refunded.amount


def assert_nothing_held_nothing_charged(tenant_id):
    row = only()
    assert row.status == SagaStatus.COMPENSATED, (row.status, row.step, row.last_error)
    assert available(tenant_id, "mohinga") == 10
    assert available(tenant_id, "tea", "large") == 10
    assert payments_net(tenant_id, row.payment_id) == 0
    with all_tenants():
        assert not Order.objects.exists()


def boom(name):
    raise Boom(f"injected failure at {name}")


@pytest.mark.parametrize("step", ["reserve", "charge", "commit", "record"])
def test_failure_at_each_step_is_compensated_and_says_what_happened_to_the_money(tenant, catalog, seam, step):
    if step == "commit":
        seam.holds_stock()
    seam.before(step, boom)
    with pytest.raises(SagaFailed) as failed:
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body(payment={"method": "card"}))
    assert_nothing_held_nothing_charged(tenant.id)
    problem = failed.value
    assert problem.status == 409 and problem.type.endswith("order-failed")
    if step in ("commit", "record"):  # the card was charged, then refunded
        assert problem.extra["money"] == "refunded" and problem.extra["refunded"] == 8500
        assert "8,500" in problem.detail or "8500" in problem.detail
        assert "refunded" in problem.detail and "Nothing was charged" not in problem.detail
    else:
        assert problem.extra["money"] == "not_charged" and "Nothing was charged." in problem.detail


@pytest.mark.parametrize("step", ["reserve", "charge", "commit"])
def test_failure_right_after_a_call_is_compensated(tenant, catalog, seam, step):
    """The other module did its part but the answer was lost: compensation finds it by the saga's key."""
    if step == "commit":
        seam.holds_stock()
    seam.after(step, boom)
    with pytest.raises(SagaFailed):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body(payment={"method": "card"}))
    assert_nothing_held_nothing_charged(tenant.id)


def test_a_retry_after_compensation_answers_the_same_failure(tenant, catalog, seam):
    key = new_key()
    seam.before("charge", boom)
    with pytest.raises(SagaFailed) as first:
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    seam.clear()
    with pytest.raises(DomainError) as again:
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert (again.value.status, again.value.detail) == (first.value.status, first.value.detail) == (
        409, first.value.detail)
    assert available(tenant.id, "mohinga") == 10


def crash(name):
    raise Crash(name)


def recover():
    return saga.recover_stuck(older_than=timedelta(seconds=-1))


@pytest.mark.parametrize(("point", "outcome"), [
    ("after reserve", SagaStatus.COMPENSATED),
    ("saved reserve", SagaStatus.COMPENSATED),
    ("after charge", SagaStatus.COMPLETED),
    ("saved charge", SagaStatus.COMPLETED),
    ("after commit", SagaStatus.COMPLETED),
    ("saved commit", SagaStatus.COMPLETED),
])
def test_crash_between_steps_is_recovered(tenant, catalog, seam, point, outcome):
    where, name = point.split()
    if name == "commit":
        seam.holds_stock()
    getattr(seam, where)(name, crash)
    key = new_key()
    with pytest.raises(Crash):
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body(payment={"method": "card"}))
    seam.clear()
    assert only().status == SagaStatus.RUNNING
    summary = recover()
    assert summary["found"] == 1
    row = only()
    assert row.status == outcome, (row.step, row.last_error)
    if outcome == SagaStatus.COMPLETED:
        with all_tenants():
            order = Order.objects.get(pk=row.order_id)
        assert payments_net(tenant.id, row.payment_id) == order.grand_total == 8500
        assert available(tenant.id, "mohinga") == 8
    else:
        assert_nothing_held_nothing_charged(tenant.id)
        with pytest.raises(SagaFailed) as final:  # the terminal's retry: recovery cancelled it, no operator did
            saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body(payment={"method": "card"}))
        assert final.value.detail == ("The order was interrupted before it was paid and not finished in time; it was "
                                      "cancelled. Nothing was charged.")
    assert recover()["found"] == 0  # nothing left stuck, and running it again changes nothing


def test_a_retry_by_the_terminal_resumes_a_crashed_saga(tenant, catalog, seam):
    key = new_key()
    seam.saved("charge", crash)
    with pytest.raises(Crash):
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    seam.clear()
    order = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert order.grand_total == 8500
    assert payments_net(tenant.id, only().payment_id) == 8500


def test_recovery_does_not_touch_a_saga_held_by_a_live_process(tenant, catalog, seam):
    seam.saved("reserve", crash)
    with pytest.raises(Crash):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    seam.clear()
    from modules.pos_core import services

    services.saga_claim(saga_id=only().id, lease_seconds=60, force=True)
    assert recover() == {"found": 0, "completed": 0, "compensated": 0, "still_stuck": 0, "failed": 0}


def test_sagas_command_lists_resumes_and_compensates(tenant, catalog, capsys, seam):
    seam.saved("reserve", crash)
    with pytest.raises(Crash):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    seam.clear()
    row = only()
    call_command("sagas", "--older-than", "0")
    out = capsys.readouterr().out
    assert str(row.id) in out and "stock sold, nothing charged" in out
    call_command("sagas", "--resume", str(row.id))
    assert "completed" in capsys.readouterr().out
    assert only().status == SagaStatus.COMPLETED
    with pytest.raises(CommandError, match="already completed"):
        call_command("sagas", "--compensate", str(row.id))
    with pytest.raises(CommandError, match="No saga"):
        call_command("sagas", "--resume", "not-a-saga")


def test_sagas_command_compensates_one(tenant, catalog, capsys, seam):
    seam.saved("reserve", crash)
    with pytest.raises(Crash):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    seam.clear()
    call_command("sagas", "--compensate", str(only().id))
    assert "compensated" in capsys.readouterr().out
    assert_nothing_held_nothing_charged(tenant.id)


@pytest.mark.parametrize(("fault", "status", "money"), [
    ("decline", 402, "not_charged"), ("record", 409, "refunded"), ("stock", 409, "not_charged")])
def test_the_terminal_gets_a_final_answer_saying_what_happened_to_the_money_the_same_every_time(
        api, tenant, catalog, seam, fault, status, money):
    body = order_body(payment={"method": "card"})
    if fault == "decline":
        def decline(name):
            raise payment.PaymentDeclined("Card declined by the issuer.", payment_id="", reason="insufficient")

        seam.before("charge", decline)
    elif fault == "record":
        seam.before("record", boom)
    else:
        body = order_body(items=[{"product_id": "mohinga", "quantity": 11}], payment={"method": "card"})
    answers = [api.post("/api/v1/orders", body, format="json", HTTP_IDEMPOTENCY_KEY="final") for _ in range(3)]
    assert {a.status_code for a in answers} == {status}
    assert all(a.json() == answers[0].json() for a in answers)
    problem = answers[0].json()
    assert problem["money"] == money
    if money == "refunded":
        assert problem["refunded"] == 8500 and "8,500" in problem["detail"] and "refunded" in problem["detail"]
    elif fault != "stock":
        assert "Nothing was charged." in problem["detail"]
    assert_nothing_held_nothing_charged(tenant.id)
