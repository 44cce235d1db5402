"""The order saga under lost database connections (PostgreSQL): a real `pg_terminate_backend` of this process's
own backend right after every call to another module, and during every compensation step. The terminal is told
the outcome is not known yet (503, never a 500 and never a wrong "nothing was charged"); recovery then ends every
saga completed or fully compensated, and `reconcile` finds the modules in agreement. Also: an ambiguous charge
keeps the saga compensating until its fate is known, and a capture arriving for a failed saga is refunded."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connections
from django.utils import timezone

from conftest import terminate_own_backend
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.payment.models import ProviderBehaviour
from modules.payment.services import payment_resolve_pending
from modules.pos_core import saga
from modules.pos_core.errors import OrderOutcomeUnknown, SagaFailed
from modules.pos_core.models import Order, OrderSaga, SagaLogEntry, SagaStatus
from modules.pos_core.tests.conftest import available, make_catalog, order_body
from modules.pos_core.tests.seams import Seam, once
from ops.reconcile import reconcile
from pos.errors import DomainError
from pos.events import relay
from pos.tenancy import all_tenants, tenant_context

pytestmark = [pytest.mark.django_db(databases="__all__", transaction=True), pytest.mark.postgres]


@pytest.fixture(autouse=True)
def _postgres_only(settings):
    if connections["pos_core"].vendor != "postgresql":
        pytest.skip("needs PostgreSQL module databases (pg_terminate_backend)")
    settings.EVENTS_IN_PROCESS = True
    yield
    for connection in connections.all():
        connection.close_if_unusable_or_obsolete()


@pytest.fixture
def seam(monkeypatch):
    return Seam(monkeypatch)


def recover_all() -> None:
    for _ in range(5):
        if saga.recover_stuck(older_than=timedelta(seconds=-1))["found"] == 0:
            return
    raise AssertionError("sagas still unfinished after five recovery sweeps")


def the_saga() -> OrderSaga:
    with all_tenants():
        (row,) = OrderSaga.objects.all()
    return row


def net_captured(tenant_id) -> int:
    with all_tenants():
        row = OrderSaga.objects.get()
    info = payment.find_payment(tenant_id=tenant_id, idempotency_key=f"saga-{row.id}-charge")
    return 0 if info is None else info.captured.amount - info.refunded.amount


def assert_whole(tenant):
    """Completed with one net capture and the stock sold, or compensated with nothing kept; modules agree."""
    row = the_saga()
    with all_tenants():
        orders = list(Order.objects.all())
    if row.status == SagaStatus.COMPLETED:
        assert len(orders) == 1 and net_captured(tenant.id) == orders[0].grand_total == 8500
        assert (available(tenant.id, "mohinga"), available(tenant.id, "tea", "large")) == (8, 9)
    else:
        assert row.status == SagaStatus.COMPENSATED, (row.status, row.step, row.last_error)
        assert orders == [] and net_captured(tenant.id) == 0
        assert (available(tenant.id, "mohinga"), available(tenant.id, "tea", "large")) == (10, 10)
    with tenant_context(tenant.id):
        assert not inventory.list_reservations(tenant_id=tenant.id, status="active")
    # a delivery the lost connection failed waits for its retry: deliver what is due by then, as the relay would
    relay.drain(now=timezone.now() + timedelta(hours=1))
    report = reconcile(tenant_id=tenant.id)
    assert report.clean, report.table()


def place(tenant, key="k"):
    return saga.place_order(tenant_id=tenant.id, idempotency_key=key, data=order_body(payment={"method": "card"}))


# --- forward: the connection dies right after each call to another module, or under the callee ---------------


@pytest.mark.parametrize(("where", "call", "alias"), [
    ("after", "reserve", "pos_core"), ("after", "charge", "pos_core"), ("after", "commit", "pos_core"),
    ("before", "record", "pos_core"),
    ("before", "reserve", "inventory"), ("before", "charge", "payment"), ("before", "commit", "inventory"),
])
def test_a_connection_lost_mid_saga_ends_completed_or_compensated(tenant, seam, where, call, alias):
    make_catalog(tenant.id)
    if call == "commit":
        seam.holds_stock()  # the stock held, then committed after the charge (a saga started before sell_stock)
    getattr(seam, where)(call, once(terminate_own_backend(alias)))
    try:
        order = place(tenant)
    except DomainError as answer:
        assert answer.status == 503 and isinstance(answer, OrderOutcomeUnknown), answer
    else:
        # The saga wrote nothing on the lost connection before Django's health check replaced it (pos_core
        # is written at the saga's start and with the order only): the order is placed, whole.
        assert (where, alias) == ("after", "pos_core") and order.grand_total == 8500
        assert the_saga().status == SagaStatus.COMPLETED
    seam.clear()
    recover_all()
    assert_whole(tenant)
    # the terminal's retry with its key gets the final answer, the same every time
    for _ in range(2):
        if the_saga().status == SagaStatus.COMPLETED:
            assert place(tenant).grand_total == 8500
        else:
            with pytest.raises(SagaFailed) as final:
                place(tenant)
            assert final.value.status in (402, 409, 422) and final.value.extra["money"] in ("not_charged", "refunded")


# --- compensation: the connection dies right after each call of every compensation step -----------------------


def fail_by_decline(tenant, seam):
    with tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, charge_behaviour="decline")


def fail_by_expiry(tenant, seam):
    """Only stock held (not yet sold) can expire: a saga started before sell_stock, paid after its hold ran out."""
    seam.holds_stock()

    def expire(_name):
        row = the_saga()
        inventory.release_reservation(tenant_id=tenant.id, reservation_id=row.reservation_id)

    seam.before("commit", once(expire))


def fail_at_record(tenant, seam):
    def boom(_name):
        raise RuntimeError("the order could not be written")

    seam.before("record", once(boom))


SCENARIOS = {
    # scenario: (how it fails, the compensation calls made, the money's final state)
    "declined": (fail_by_decline, ["find_payment", "find_reservation", "cancel_reservation"], "not_charged"),
    "expired": (fail_by_expiry, ["find_payment", "find_refund", "refund", "find_reservation", "cancel_reservation"],
                "refunded"),
    "record": (fail_at_record, ["find_payment", "find_refund", "refund", "find_reservation", "cancel_reservation"],
               "refunded"),
}
CASES = [(scenario, call) for scenario, (_, calls, _) in SCENARIOS.items() for call in calls]


@pytest.mark.parametrize(("scenario", "call"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_a_connection_lost_during_compensation_is_finished_by_recovery(tenant, seam, scenario, call):
    make_catalog(tenant.id)
    fail, _, money = SCENARIOS[scenario]
    fail(tenant, seam)
    seam.after(call, once(terminate_own_backend("pos_core")))
    with pytest.raises(DomainError) as answer:
        place(tenant)
    # Not known yet (503), or final if the lost connection was met and replaced by someone else first (the event
    # handler inventory's commit calls in-process): never a 500, never a premature "nothing was charged".
    if answer.value.status != 503:
        assert isinstance(answer.value, SagaFailed) and answer.value.extra["money"] == money, answer.value
    seam.clear()
    with all_tenants():
        ProviderBehaviour.objects.all().delete()
    recover_all()
    row = the_saga()
    assert row.status == SagaStatus.COMPENSATED, (row.step, row.last_error)
    assert_whole(tenant)
    with pytest.raises(SagaFailed) as final:
        place(tenant)
    assert final.value.extra["money"] == money
    assert ("refunded" in final.value.detail) == (money == "refunded")
    assert ("Nothing was charged" in final.value.detail) == (money == "not_charged")


# --- an ambiguous charge, then compensation; a capture that arrives after the saga gave up ------------------


def test_an_ambiguous_charge_keeps_the_saga_compensating_until_the_payment_is_known(tenant):
    make_catalog(tenant.id)
    with tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, charge_behaviour="lost", lookup_behaviour="unavailable")
    with pytest.raises(DomainError) as answer:
        place(tenant)
    assert answer.value.status == 503
    row = the_saga()
    with pytest.raises(CommandError, match="still compensating"):  # an operator cancels it: it cannot finish
        call_command("sagas", "--compensate", str(row.id), "--force")  # while the charge's outcome is unknown
    row = the_saga()
    assert row.status == SagaStatus.COMPENSATING and "not known" in row.last_error
    with pytest.raises(OrderOutcomeUnknown) as waiting:
        place(tenant)
    assert waiting.value.extra.get("money") == "refund_pending"
    with all_tenants():
        ProviderBehaviour.objects.all().delete()  # the provider answers again: the charge went through
    recover_all()
    row = the_saga()
    assert row.status == SagaStatus.COMPENSATED
    assert_whole(tenant)
    with pytest.raises(SagaFailed) as final:
        place(tenant)
    assert final.value.extra["money"] == "refunded" and "8,500" in final.value.detail.replace("8500", "8,500")


def test_a_capture_arriving_for_a_failed_saga_is_refunded_once_and_shown(tenant):
    make_catalog(tenant.id)
    with tenant_context(tenant.id):
        ProviderBehaviour.objects.create(tenant_id=tenant.id, charge_behaviour="lost", lookup_behaviour="unavailable")
    with pytest.raises(DomainError):
        place(tenant)
    with all_tenants():
        OrderSaga.objects.update(attempts=saga.MAX_ATTEMPTS)
    saga.recover_stuck(older_than=timedelta(seconds=-1))
    assert the_saga().status == SagaStatus.FAILED  # given up: an operator's case
    with pytest.raises(OrderOutcomeUnknown):
        place(tenant)  # a 503 that says staff has it, never a 500
    with all_tenants():
        ProviderBehaviour.objects.all().delete()
    payment_resolve_pending(older_than_seconds=0)  # payment learns the charge was captured: payment.captured
    payment_resolve_pending(older_than_seconds=0)  # and again: nothing more happens
    assert net_captured(tenant.id) == 0
    with all_tenants():
        notes = list(SagaLogEntry.objects.filter(action="late-capture").values_list("detail", flat=True))
    assert len(notes) == 1 and "refunded" in notes[0]
    assert "late capture" in the_saga().last_error
    # the operator finishes it: the reservation goes back, and the answer says the money was refunded
    call_command("sagas", "--compensate", str(the_saga().id), "--force")
    assert_whole(tenant)
    with pytest.raises(SagaFailed) as final:
        place(tenant)
    assert final.value.extra["money"] == "refunded"


def test_an_operator_can_compensate_a_compensated_saga_again(tenant, seam):
    make_catalog(tenant.id)
    fail_at_record(tenant, seam)
    with pytest.raises(SagaFailed):
        place(tenant)
    row = the_saga()
    assert row.status == SagaStatus.COMPENSATED
    with pytest.raises(Exception, match="already compensated"):
        call_command("sagas", "--compensate", str(row.id))
    call_command("sagas", "--compensate", str(row.id), "--force")  # looks again by key: nothing left to undo
    assert_whole(tenant)
    assert available(tenant.id, "mohinga") == 10
