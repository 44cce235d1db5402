"""Failures injected at each step are compensated; crashes between steps are recovered."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from modules.payment import api as payment
from modules.pos_core import saga
from modules.pos_core.models import Order, OrderSaga, SagaStatus
from pos.errors import DomainError
from pos.tenancy import all_tenants

from .conftest import available, new_key, order_body

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


@pytest.mark.parametrize("step", ["reserve", "charge", "commit", "record"])
def test_failure_at_each_step_is_compensated(tenant, catalog, step):
    def fail(name):
        if name == step:
            raise Boom(f"injected failure at {name}")

    saga.HOOKS.before = fail
    with pytest.raises(Boom):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body(payment={"method": "card"}))
    assert_nothing_held_nothing_charged(tenant.id)


@pytest.mark.parametrize("step", ["reserve", "charge", "commit"])
def test_failure_right_after_a_call_is_compensated(tenant, catalog, step):
    """The other module did its part but the answer was lost: compensation finds it by the saga's key."""

    def fail(name):
        if name == f"{step}:called":
            raise Boom(f"lost answer of {name}")

    saga.HOOKS.after = fail
    with pytest.raises(Boom):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body(payment={"method": "card"}))
    assert_nothing_held_nothing_charged(tenant.id)


def test_a_retry_after_compensation_answers_the_same_failure(tenant, catalog):
    key = new_key()
    saga.HOOKS.before = lambda name: (_ for _ in ()).throw(Boom()) if name == "charge" else None
    with pytest.raises(Boom):
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    saga.HOOKS.before = None
    with pytest.raises(DomainError) as err:
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert err.value.status == 500
    assert available(tenant.id, "mohinga") == 10


def crash_after(point: str):
    def hook(name):
        if name == point:
            raise saga.CrashForTest(point)

    return hook


def recover():
    return saga.recover_stuck(older_than=timedelta(seconds=-1))


@pytest.mark.parametrize(("point", "outcome"), [
    ("reserve:called", SagaStatus.COMPENSATED),
    ("reserved", SagaStatus.COMPENSATED),
    ("charge:called", SagaStatus.COMPLETED),
    ("charged", SagaStatus.COMPLETED),
    ("commit:called", SagaStatus.COMPLETED),
    ("committed", SagaStatus.COMPLETED),
])
def test_crash_between_steps_is_recovered(tenant, catalog, point, outcome):
    saga.HOOKS.after = crash_after(point)
    with pytest.raises(saga.CrashForTest):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body(payment={"method": "card"}))
    saga.HOOKS.after = None
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
    assert recover()["found"] == 0  # nothing left stuck, and running it again changes nothing


def test_a_retry_by_the_terminal_resumes_a_crashed_saga(tenant, catalog):
    key = new_key()
    saga.HOOKS.after = crash_after("charged")
    with pytest.raises(saga.CrashForTest):
        saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    saga.HOOKS.after = None
    order = saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body())
    assert order.grand_total == 8500
    assert payments_net(tenant.id, only().payment_id) == 8500


def test_recovery_does_not_touch_a_saga_held_by_a_live_process(tenant, catalog):
    saga.HOOKS.after = crash_after("reserved")
    with pytest.raises(saga.CrashForTest):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    saga.HOOKS.after = None
    from modules.pos_core import services

    services.saga_claim(saga_id=only().id, lease_seconds=60, force=True)
    assert recover() == {"found": 0, "completed": 0, "compensated": 0, "still_stuck": 0, "failed": 0}


def test_sagas_command_lists_resumes_and_compensates(tenant, catalog, capsys):
    saga.HOOKS.after = crash_after("reserved")
    with pytest.raises(saga.CrashForTest):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    saga.HOOKS.after = None
    row = only()
    call_command("sagas", "--older-than", "0")
    out = capsys.readouterr().out
    assert str(row.id) in out and "reserved" in out
    call_command("sagas", "--resume", str(row.id))
    assert "completed" in capsys.readouterr().out
    assert only().status == SagaStatus.COMPLETED
    with pytest.raises(CommandError, match="already completed"):
        call_command("sagas", "--compensate", str(row.id))
    with pytest.raises(CommandError, match="No saga"):
        call_command("sagas", "--resume", "not-a-saga")


def test_sagas_command_compensates_one(tenant, catalog, capsys):
    saga.HOOKS.after = crash_after("reserved")
    with pytest.raises(saga.CrashForTest):
        saga.place_order(tenant_id=tenant.id, idempotency_key=new_key(), data=order_body())
    saga.HOOKS.after = None
    call_command("sagas", "--compensate", str(only().id))
    assert "compensated" in capsys.readouterr().out
    assert_nothing_held_nothing_charged(tenant.id)
