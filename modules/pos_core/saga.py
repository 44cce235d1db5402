"""The order-placement saga, orchestrated by pos_core across three module databases.

    validate (no saga yet) -> start saga (keyed by tenant + Idempotency-Key)
    -> reserve stock (inventory, key = saga id) -> charge (payment, key derived from the saga id)
    -> commit the reservation (inventory) -> record the order + publish pos_core.order_placed (pos_core, one tx)

The saga row is persisted before (intent) and after (outcome) every call to another module. A failure
compensates in reverse: refund the payment, release the reservation (or return committed stock). Every step
and every compensation is idempotent, keyed by the saga id, so running any of them twice has one effect.
A saga interrupted by a crash is found by `pos_core.recover_sagas` (or `manage.py sagas`): if the charge was
attempted it is driven to completion (the guest paid, or is paying), otherwise it is compensated.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.payment import api as payment
from modules.restaurant import api as restaurant
from pos.errors import DomainError
from pos.logging import log_context
from pos.money import Money
from pos.tenancy import tenant_context

from . import selectors, services
from .errors import (
    InvalidOrder,
    OrderExpired,
    OrderPaymentDeclined,
    PaymentUnavailable,
    SagaFailed,
    SagaInProgress,
    SagaNotFound,
    SagaNotRecoverable,
    StockChanged,
)
from .models import Order, OrderSaga, SagaStatus, SagaStep
from .pricing import PricedLine, TaxPolicy, cash_rounding, compute_totals

logger = logging.getLogger("pos_core.saga")

MAX_LINES = getattr(settings, "POS_ORDER_MAX_LINES", 50)
MAX_QUANTITY = 999
LEASE_SECONDS = 30
MAX_ATTEMPTS = 25
STUCK_AFTER = timedelta(seconds=getattr(settings, "POS_SAGA_STUCK_SECONDS", 60))


class CrashForTest(BaseException):
    """Raised by a test hook to stop the runner as if the process died: nothing after it runs, no compensation."""


@dataclasses.dataclass
class Hooks:
    """Test seams. `before(action)` runs before each call to another module (raise to inject a failure);
    `after(point)` runs after each persisted step ("reserved", "charged", "committed", "recorded") and after
    each raw call ("reserve:called", ...) before its outcome is saved (raise CrashForTest to simulate a crash)."""

    before: Callable[[str], None] | None = None
    after: Callable[[str], None] | None = None


HOOKS = Hooks()


def _hook(kind: str, name: str) -> None:
    fn = getattr(HOOKS, kind)
    if fn is not None:
        fn(name)


class _Never(Exception):
    """Stands in for another module's error class that its api does not export (never raised)."""


def _err(module: Any, name: str) -> type[BaseException]:
    return getattr(module, name, _Never)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Money):
        return value.to_dict()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    return value


# --- validation: nothing is started for bad input -------------------------------------------------

def validate(*, tenant_id: uuid.UUID, data: Any, terminal_id: str = "") -> dict[str, Any]:
    """Check an order request against the catalog, the tenant's settings and the tables, and price it.
    Returns the saga's request document. Raises InvalidOrder (400) or StockChanged (409 for sold-out items)."""
    errors: list[dict[str, str]] = []

    def bad(field: str, message: str, code: str = "invalid") -> None:
        errors.append({"field": field, "message": message, "code": code})

    if not isinstance(data, dict):
        raise InvalidOrder("The order must be a JSON object.", errors=[{"field": "__all__", "message": "Expected an object.",
                                                                       "code": "invalid"}])
    tenant = accounts.get_tenant(tenant_id)
    items = data.get("items")
    if not isinstance(items, list) or not items:
        bad("items", "An order needs at least one item.", "empty")
    elif len(items) > MAX_LINES:
        bad("items", f"An order can have at most {MAX_LINES} lines.", "too_many_lines")
    pay = data.get("payment")
    method = pay.get("method") if isinstance(pay, dict) else None
    if not isinstance(method, str) or not method:
        bad("payment.method", "Name a payment method.", "required")
    else:
        accepted = (payment.accepted_methods(tenant_id=tenant_id) if hasattr(payment, "accepted_methods")
                    else list(tenant.payment_methods))
        if method not in accepted:
            bad("payment.method", f"{method!r} is not accepted here; accepted: {', '.join(accepted)}.",
                "method_not_accepted")
    tendered = pay.get("tendered") if isinstance(pay, dict) else None
    if tendered is not None:
        if isinstance(tendered, bool) or not isinstance(tendered, int) or tendered <= 0:
            bad("payment.tendered", "Tendered must be a positive integer number of minor units.")
        elif method != "cash":
            bad("payment.tendered", "Only cash payments take a tendered amount.")
    note = data.get("note") or ""
    if not isinstance(note, str) or len(note) > 500:
        bad("note", "The note must be text of at most 500 characters.")
    table_id = data.get("table_id")
    if table_id is not None and (not isinstance(table_id, str) or not table_id):
        bad("table_id", "table_id must be a table's id.")
    parsed: list[tuple[int, dict]] = []
    if isinstance(items, list) and 0 < len(items) <= MAX_LINES:
        for index, item in enumerate(items):
            field = f"items[{index}]"
            if not isinstance(item, dict):
                bad(field, "Each item must be an object.")
                continue
            quantity = item.get("quantity")
            if isinstance(quantity, bool) or not isinstance(quantity, int):
                bad(f"{field}.quantity", "Quantity must be a whole number.", "not_integer")
            elif quantity <= 0:
                bad(f"{field}.quantity", "Quantity must be at least 1.", "not_positive")
            elif quantity > MAX_QUANTITY:
                bad(f"{field}.quantity", f"Quantity must be at most {MAX_QUANTITY}.", "too_large")
            if not isinstance(item.get("product_id"), str) or not item.get("product_id"):
                bad(f"{field}.product_id", "Name a product.", "required")
            variant = item.get("variant")
            if variant is not None and not isinstance(variant, str):
                bad(f"{field}.variant", "variant must be a variant key.")
            options = item.get("options", [])
            if options is None:
                options = []
            if not isinstance(options, list):
                bad(f"{field}.options", "options must be a list.")
            parsed.append((index, item))
    if errors:
        raise InvalidOrder("The order has invalid fields.", errors=errors)

    products = inventory.get_products(tenant_id=tenant_id, product_ids=list(dict.fromkeys(i["product_id"]
                                                                                          for _, i in parsed)))
    lines: list[dict[str, Any]] = []
    priced: list[PricedLine] = []
    sold_out: list[dict[str, Any]] = []
    for index, item in parsed:
        field = f"items[{index}]"
        product = products.get(item["product_id"])
        if product is None:
            bad(f"{field}.product_id", f"Unknown product {item['product_id']!r}.", "unknown_product")
            continue
        if not product.is_active:
            bad(f"{field}.product_id", f"{item['product_id']!r} is not on sale.", "inactive_product")
            continue
        variant_key = item.get("variant")
        variant = None
        if variant_key is not None:
            variant = next((v for v in product.variants if v.key == variant_key), None)
            if variant is None:
                bad(f"{field}.variant", f"{product.id!r} has no variant {variant_key!r}.", "unknown_variant")
                continue
        elif product.variants:
            bad(f"{field}.variant", f"Choose a variant of {product.id!r}: "
                f"{', '.join(v.key for v in product.variants)}.", "variant_required")
            continue
        price = variant.price if variant is not None else product.price
        if price.currency != tenant.currency:
            bad(f"{field}.product_id", f"{product.id!r} is priced in {price.currency}, not {tenant.currency}.")
            continue
        groups = list(product.option_groups) + (list(variant.option_groups) if variant is not None else [])
        chosen, option_errors = _choose_options(groups, item.get("options") or [])
        for message in option_errors:
            bad(f"{field}.options", message, "invalid_options")
        if option_errors:
            continue
        level = variant.stock_level if variant is not None else product.stock_level
        if product.is_sold_out or getattr(variant, "is_sold_out", False) or (level is not None and level <= 0):
            sold_out.append({"product_id": product.id, "variant": variant_key, "requested": item["quantity"],
                             "available": max(level or 0, 0)})
            continue
        line = PricedLine(unit_price=price, option_deltas=tuple(choice["delta"] for choice in chosen),
                          quantity=item["quantity"])
        priced.append(line)
        lines.append({
            "product_id": product.id, "variant": variant_key, "product_names": dict(product.names),
            "variant_names": dict(variant.names) if variant is not None else {},
            "category_id": product.category_id, "category_names": dict(product.category_names or {}),
            "options": [{"group": c["group"], "group_names": c["group_names"], "key": c["key"], "names": c["names"],
                         "price_delta": c["delta"].amount} for c in chosen],
            "unit_price": price.amount, "options_total": line.options_total.amount, "quantity": line.quantity,
            "line_total": line.line_total.amount, "product_version": product.version,
            "snapshot": _jsonable(product),
        })
    if errors:
        raise InvalidOrder("The order names products, variants or options that are not available.", errors=errors)
    if sold_out:
        raise StockChanged(lines=sold_out)

    table_code = ""
    if table_id is not None:
        try:
            table = restaurant.get_table(tenant_id=tenant_id, table_id=table_id)
        except _err(restaurant, "TableNotFound"):
            raise InvalidOrder("Unknown table.", errors=[{"field": "table_id", "message": f"No table {table_id!r}.",
                                                          "code": "unknown_table"}]) from None
        table_code = getattr(table, "code", "") or ""

    policy = TaxPolicy(tax_rate=tenant.tax_rate, tax_inclusive=tenant.tax_inclusive,
                       service_charge_rate=tenant.service_charge_rate)
    totals = compute_totals(priced, policy, tenant.currency)
    if method == "cash" and tendered is not None:
        due = totals.total + cash_rounding(totals.total, tenant.cash_rounding_unit)
        if tendered < due.amount:
            raise InvalidOrder("Not enough cash tendered.", errors=[{
                "field": "payment.tendered", "message": f"At least {due.amount} is due.", "code": "insufficient_tender"}],
                due=due.amount)
        if tendered > due.amount + tenant.cash_max_change:
            raise InvalidOrder("Too much cash tendered.", errors=[{
                "field": "payment.tendered", "code": "excessive_tender",
                "message": f"At most {due.amount + tenant.cash_max_change} ({due.amount} due plus at most "
                           f"{tenant.cash_max_change} change) can be tendered."}], due=due.amount)
    if method == "cash" and tenant.require_open_shift_for_cash:
        # refused before anything is reserved; the charge checks again under the shift's lock
        payment.check_cash_shift(tenant_id=tenant_id, terminal_id=terminal_id)
    return {
        "currency": tenant.currency, "locales": list(tenant.locales), "table_id": table_id, "table_code": table_code,
        "note": note, "terminal_id": terminal_id,
        "payment": {"method": method, "tendered": tendered},
        "policy": {"tax_rate": str(tenant.tax_rate), "tax_inclusive": tenant.tax_inclusive,
                   "service_charge_rate": str(tenant.service_charge_rate)},
        "totals": {"subtotal": totals.subtotal.amount, "service_charge": totals.service_charge.amount,
                   "tax": totals.tax.amount, "total": totals.total.amount},
        "lines": lines,
    }


def _choose_options(groups: list, requested: list) -> tuple[list[dict[str, Any]], list[str]]:
    """Resolve the requested options ("choice" or {"group", "choice"}) against the option groups and check
    each group's min/max."""
    errors: list[str] = []
    chosen: list[dict[str, Any]] = []
    by_group: dict[str, int] = {g.key: 0 for g in groups}
    for entry in requested:
        group_key = None
        if isinstance(entry, dict):
            group_key, choice_key = entry.get("group"), entry.get("choice") or entry.get("key")
        else:
            choice_key = entry
        if not isinstance(choice_key, str):
            errors.append(f"Option {entry!r} is not a choice key.")
            continue
        matches = [(g, c) for g in groups if group_key in (None, g.key) for c in g.choices if c.key == choice_key]
        if not matches:
            errors.append(f"Unknown option {choice_key!r}" + (f" in group {group_key!r}." if group_key else "."))
            continue
        if len(matches) > 1:
            errors.append(f"Option {choice_key!r} is in several groups; name its group.")
            continue
        group, choice = matches[0]
        if any(c["group"] == group.key and c["key"] == choice.key for c in chosen):
            errors.append(f"Option {choice_key!r} is chosen twice.")
            continue
        by_group[group.key] += 1
        chosen.append({"group": group.key, "group_names": dict(group.names), "key": choice.key,
                       "names": dict(choice.names), "delta": choice.price_delta})
    for group in groups:
        count = by_group[group.key]
        if count < group.min_select:
            errors.append(f"Choose at least {group.min_select} of {group.key!r}.")
        if group.max_select and count > group.max_select:
            errors.append(f"Choose at most {group.max_select} of {group.key!r}.")
    return chosen, errors


# --- running the saga ------------------------------------------------------------------------------

def place_order(*, tenant_id: uuid.UUID, idempotency_key: str, data: Any, terminal_id: str = "") -> Order:
    """Place an order: validate, then run the saga to the end. The same key again returns the same order (or the
    same failure) and never charges twice."""
    existing = selectors.saga_by_key(tenant_id=tenant_id, idempotency_key=idempotency_key)
    if existing is not None:
        return _outcome_of(existing)
    request = validate(tenant_id=tenant_id, data=data, terminal_id=terminal_id)
    saga, created = services.saga_start(tenant_id=tenant_id, idempotency_key=idempotency_key, request=request,
                                        lease_seconds=LEASE_SECONDS)
    if not created:
        return _outcome_of(saga)
    return _drive(saga, claimed=True)


def _outcome_of(saga: OrderSaga) -> Order:
    if saga.status == SagaStatus.COMPLETED:
        return selectors.order_get(tenant_id=saga.tenant_id, order_id=saga.order_id)
    if saga.status in (SagaStatus.COMPENSATED, SagaStatus.FAILED) and saga.error:
        raise SagaFailed(saga.error)
    if saga.status == SagaStatus.COMPENSATED:
        raise SagaFailed({"status": 409, "type": "order-failed", "title": "The order could not be placed",
                          "detail": "This order was cancelled and nothing was charged. Place it again with a new "
                                    "Idempotency-Key.", "saga_id": str(saga.id)})
    return _drive(saga, claimed=False)


def _drive(saga: OrderSaga, *, claimed: bool, direction: str = "auto") -> Order:
    if not claimed and not services.saga_claim(saga_id=saga.id, lease_seconds=LEASE_SECONDS):
        raise SagaInProgress("This order is still being placed. Retry in a moment.", saga_id=str(saga.id))
    saga.refresh_from_db()
    try:
        with log_context(saga_id=saga.id), tenant_context(saga.tenant_id):
            if direction == "compensate" or saga.status == SagaStatus.COMPENSATING:
                _compensate(saga)
                return _outcome_of(saga)
            if saga.status != SagaStatus.RUNNING:
                return _outcome_of(saga)
            try:
                return _forward(saga)
            except PaymentUnavailable:
                raise  # outcome unknown: keep the saga; a retry or recovery finishes it
            except DomainError as exc:
                problem = {"status": exc.status, "type": exc.type, "title": exc.title, "detail": exc.detail,
                           **exc.extra, "saga_id": str(saga.id)}
                services.saga_record_failure(saga=saga, action=saga.current or "step",
                                             error=f"{type(exc).__name__}: {exc.detail}", problem=problem)
                _compensate(saga)
                raise SagaFailed(problem) from exc
            except Exception as exc:
                logger.exception("saga step failed; compensating", extra={"step": saga.step, "action": saga.current})
                services.saga_record_failure(saga=saga, action=saga.current or "step",
                                             error=f"{type(exc).__name__}: {exc}", problem={
                                                 "status": 500, "type": "order-failed",
                                                 "title": "The order could not be placed",
                                                 "detail": "Something failed while placing the order; nothing was "
                                                           "charged. Place it again with a new Idempotency-Key.",
                                                 "saga_id": str(saga.id)})
                _compensate(saga)
                raise
    finally:
        services.saga_release(saga_id=saga.id)


def _forward(saga: OrderSaga) -> Order:
    tenant_id = saga.tenant_id
    request = saga.request
    if saga.step == SagaStep.STARTED:
        _reserve(saga)
    if saga.step == SagaStep.RESERVED:
        services.saga_begin(saga=saga, action="charge")
        _hook("before", "charge")
        tendered = request["payment"].get("tendered")
        currency = request["currency"]
        try:
            info = payment.charge(tenant_id=tenant_id, amount=Money(request["totals"]["total"], currency),
                                  method=request["payment"]["method"], idempotency_key=f"saga-{saga.id}-charge",
                                  tendered=Money(tendered, currency) if tendered is not None else None,
                                  reference=str(saga.order_id), terminal_id=request.get("terminal_id") or "")
        except _err(payment, "PaymentDeclined") as exc:
            services.saga_record_failure(saga=saga, action="charge", error=f"declined: {exc}", current="",
                                         payment_id=getattr(exc, "extra", {}).get("payment_id") or "",
                                         payment={"status": "declined", "captured": 0})
            raise OrderPaymentDeclined(getattr(exc, "detail", "The payment was declined."),
                                       payment_id=getattr(exc, "extra", {}).get("payment_id")) from exc
        except _err(payment, "PaymentAmbiguous") as exc:
            services.saga_record_failure(saga=saga, action="charge", error=f"PaymentAmbiguous: {exc}")
            raise PaymentUnavailable("The payment provider did not answer clearly. Retry with the same "
                                     "Idempotency-Key; the order will not be charged twice.",
                                     saga_id=str(saga.id)) from exc
        except (_err(payment, "MethodNotAccepted"), _err(payment, "InvalidAmount"),
                _err(payment, "InsufficientTender"), _err(payment, "IdempotencyConflict")) as exc:
            services.saga_record_failure(saga=saga, action="charge", error=f"refused: {exc}", current="",
                                         payment={"status": "refused", "captured": 0})
            raise InvalidOrder(getattr(exc, "detail", str(exc)), errors=[{
                "field": "payment", "message": getattr(exc, "detail", str(exc)), "code": getattr(exc, "type", "")}]
            ) from exc
        _hook("after", "charge:called")
        if getattr(info, "status", "captured") not in ("captured",):
            raise OrderPaymentDeclined(f"The payment is {info.status}.", payment_id=info.id)
        services.saga_advance(saga=saga, action="charge", step=SagaStep.CHARGED, payment_id=info.id, payment={
            "captured": info.captured.amount, "rounding_adjustment": info.rounding_adjustment.amount,
            "tendered": info.tendered.amount if info.tendered is not None else None,
            "change_due": info.change_due.amount if info.change_due is not None else None,
            "status": info.status}, detail=f"payment {info.id} captured {info.captured}")
        _hook("after", SagaStep.CHARGED)
    if saga.step == SagaStep.CHARGED:
        services.saga_begin(saga=saga, action="commit")
        _hook("before", "commit")
        try:
            inventory.commit_reservation(tenant_id=tenant_id, reservation_id=saga.reservation_id)
        except _err(inventory, "ReservationNotActive") as exc:
            raise OrderExpired("The stock held for this order was released before it was finished; the payment "
                               "is refunded. Please place the order again.") from exc
        _hook("after", "commit:called")
        services.saga_advance(saga=saga, action="commit", step=SagaStep.COMMITTED, reservation_committed=True,
                              detail=f"reservation {saga.reservation_id} committed")
        _hook("after", SagaStep.COMMITTED)
    if saga.step == SagaStep.COMMITTED:
        services.saga_begin(saga=saga, action="record")
        _hook("before", "record")
        order = services.order_record(saga=saga)
        saga.refresh_from_db()
        logger.info("order placed", extra={"order_id": str(order.id)})
        _hook("after", SagaStep.RECORDED)
        return selectors.order_get(tenant_id=tenant_id, order_id=order.id)
    return selectors.order_get(tenant_id=tenant_id, order_id=saga.order_id)


def _stock_lines(request: dict[str, Any]) -> list:
    quantities: dict[tuple[str, str | None], int] = {}
    for line in request["lines"]:
        item = (line["product_id"], line["variant"])
        quantities[item] = quantities.get(item, 0) + line["quantity"]
    return [inventory.StockLine(product_id=p, variant=v, quantity=q) for (p, v), q in quantities.items()]


def _reserve(saga: OrderSaga, *, learning: bool = False) -> str | None:
    """Reserve the order's stock (key = saga id). `learning` re-asks only to find a reservation a crash may have
    left behind; a refusal then means nothing was reserved."""
    if not learning:
        services.saga_begin(saga=saga, action="reserve")
        _hook("before", "reserve")
    try:
        info = inventory.reserve_stock(tenant_id=saga.tenant_id, lines=_stock_lines(saga.request),
                                       key=f"saga-{saga.id}")
    except _err(inventory, "InsufficientStock") as exc:
        if learning:
            return None
        services.saga_record_failure(saga=saga, action="reserve", error=f"insufficient stock: {exc}", current="")
        lines = getattr(exc, "extra", {}).get("lines", [])
        raise StockChanged(lines=[{"product_id": line.get("product_id"), "variant": line.get("variant"),
                                   "requested": line.get("requested"), "available": line.get("available")}
                                  for line in lines]) from exc
    except (_err(inventory, "ProductNotFound"), _err(inventory, "InvalidQuantity"),
            _err(inventory, "VariantRequired")) as exc:
        if learning:
            return None
        services.saga_record_failure(saga=saga, action="reserve", error=f"refused: {exc}", current="")
        raise InvalidOrder(getattr(exc, "detail", str(exc)), errors=[{
            "field": "items", "message": getattr(exc, "detail", str(exc)), "code": "unknown_product"}]) from exc
    if learning:
        return info.id
    _hook("after", "reserve:called")
    services.saga_advance(saga=saga, action="reserve", step=SagaStep.RESERVED, reservation_id=info.id,
                          detail=f"reservation {info.id}")
    _hook("after", SagaStep.RESERVED)
    return info.id


def _compensate(saga: OrderSaga) -> None:
    """Undo what was done, in reverse: refund the payment, then release the reservation (or return stock that
    was already committed). Each call is idempotent by a key derived from the saga id."""
    in_flight = saga.current
    if saga.status != SagaStatus.COMPENSATING:
        services.saga_advance(saga=saga, action="compensate", status=SagaStatus.COMPENSATING,
                              detail=f"from step {saga.step}" + (f" ({in_flight} in flight)" if in_flight else ""))
        saga.current = in_flight
    charge_attempted = saga.step in (SagaStep.CHARGED, SagaStep.COMMITTED) or saga.payment_id or in_flight == "charge"
    reserve_attempted = saga.step != SagaStep.STARTED or saga.reservation_id or in_flight == "reserve"
    currency = saga.request["currency"]
    if charge_attempted and saga.step != SagaStep.REFUNDED:
        payment_id = saga.payment_id
        captured = int(saga.payment.get("captured") or 0)
        if not payment_id:
            # The charge may have gone through before the crash: the same key tells us, and never charges twice.
            services.saga_begin(saga=saga, action="charge-lookup")
            try:
                info = payment.charge(tenant_id=saga.tenant_id, amount=Money(saga.request["totals"]["total"], currency),
                                      method=saga.request["payment"]["method"], idempotency_key=f"saga-{saga.id}-charge",
                                      tendered=(Money(saga.request["payment"]["tendered"], currency)
                                                if saga.request["payment"].get("tendered") is not None else None),
                                      reference=str(saga.order_id), terminal_id=saga.request.get("terminal_id") or "")
                payment_id = info.id
                captured = info.captured.amount if info.status == "captured" else 0
            except Exception as exc:  # noqa: BLE001 - declined or refused: nothing was taken
                payment_id = getattr(exc, "extra", {}).get("payment_id") or ""
                captured = 0
            services.saga_advance(saga=saga, action="charge-lookup", payment_id=payment_id or "",
                                  detail=f"payment {payment_id or 'none'} captured {captured}")
        if payment_id and captured > 0:
            services.saga_begin(saga=saga, action="refund")
            _hook("before", "refund")
            payment.refund(tenant_id=saga.tenant_id, payment_id=payment_id, amount=Money(captured, currency),
                           idempotency_key=f"saga-{saga.id}-refund", reason="order not completed",
                           terminal_id=saga.request.get("terminal_id") or "")
            services.saga_advance(saga=saga, action="refund", step=SagaStep.REFUNDED,
                                  detail=f"refunded {captured} of payment {payment_id}")
            _hook("after", SagaStep.REFUNDED)
    if reserve_attempted and saga.step != SagaStep.RELEASED:
        reservation_id = saga.reservation_id
        if not reservation_id:
            services.saga_begin(saga=saga, action="reserve-lookup")
            reservation_id = _reserve(saga, learning=True) or ""
            services.saga_advance(saga=saga, action="reserve-lookup", reservation_id=reservation_id,
                                  detail=f"reservation {reservation_id or 'none'}")
        committed = saga.reservation_committed
        if reservation_id and not committed and in_flight == "commit":
            # The commit may have gone through before its answer was lost: ask inventory.
            committed = inventory.get_reservation(tenant_id=saga.tenant_id,
                                                  reservation_id=reservation_id).status == "committed"
        if reservation_id:
            if committed:
                services.saga_begin(saga=saga, action="return")
                for index, line in enumerate(_stock_lines(saga.request)):
                    inventory.adjust_stock(tenant_id=saga.tenant_id, product_id=line.product_id, variant=line.variant,
                                           kind="return", quantity=line.quantity, reason="order not completed",
                                           actor="pos_core.saga", key=f"saga-{saga.id}-return-{index}")
                detail = "committed stock returned"
            else:
                services.saga_begin(saga=saga, action="release")
                _hook("before", "release")
                try:
                    inventory.release_reservation(tenant_id=saga.tenant_id, reservation_id=reservation_id)
                except _err(inventory, "ReservationNotActive"):
                    pass  # expired already: nothing is held
                detail = f"reservation {reservation_id} released"
            services.saga_advance(saga=saga, action="release", step=SagaStep.RELEASED, detail=detail)
    services.saga_advance(saga=saga, action="compensated", status=SagaStatus.COMPENSATED,
                          detail="nothing reserved, nothing charged")
    logger.info("saga compensated")


# --- recovery ------------------------------------------------------------------------------------

def resume(*, saga_id: uuid.UUID | str, force: bool = False) -> OrderSaga:
    """Drive a saga forward to completion (operator or recovery). Raises SagaNotFound, SagaNotRecoverable."""
    return _operate(saga_id, "forward", force)


def compensate(*, saga_id: uuid.UUID | str, force: bool = False) -> OrderSaga:
    """Compensate a saga that has not completed. Raises SagaNotFound, SagaNotRecoverable."""
    return _operate(saga_id, "compensate", force)


def _operate(saga_id: uuid.UUID | str, direction: str, force: bool) -> OrderSaga:
    saga = selectors.saga_get(saga_id=saga_id)
    if saga is None:
        raise SagaNotFound(f"No saga {saga_id}.")
    if saga.status in (SagaStatus.COMPLETED, SagaStatus.COMPENSATED):
        raise SagaNotRecoverable(f"Saga {saga.id} is already {saga.status}.")
    if direction == "forward" and saga.status == SagaStatus.COMPENSATING:
        raise SagaNotRecoverable(f"Saga {saga.id} is being compensated; it can only be compensated.")
    if direction == "compensate" and saga.step == SagaStep.RECORDED:
        raise SagaNotRecoverable(f"Saga {saga.id} recorded its order; refund the order instead.")
    if not services.saga_claim(saga_id=saga.id, lease_seconds=LEASE_SECONDS, force=force):
        raise SagaInProgress(f"Saga {saga.id} is being driven by another process right now.")
    if saga.status == SagaStatus.FAILED:
        services.saga_advance(saga=saga, action="operator", status=SagaStatus.RUNNING)
    try:
        _drive(saga, claimed=True, direction=direction)
    except DomainError:
        pass  # recorded on the saga; the caller reads its state
    saga.refresh_from_db()
    return saga


def recover_stuck(*, older_than: timedelta = STUCK_AFTER) -> dict[str, int]:
    """Find sagas stuck mid-way and finish them: forward once the charge was attempted (the guest is paying or
    has paid), otherwise compensate. Returns counts per outcome."""
    summary = {"found": 0, "completed": 0, "compensated": 0, "still_stuck": 0, "failed": 0}
    for saga in selectors.sagas_stuck(older_than=older_than):
        summary["found"] += 1
        if saga.attempts >= MAX_ATTEMPTS:
            services.saga_record_failure(saga=saga, action="recover", status=SagaStatus.FAILED,
                                         error=f"gave up after {saga.attempts} attempts; needs an operator")
            summary["failed"] += 1
            continue
        charge_attempted = saga.step in (SagaStep.CHARGED, SagaStep.COMMITTED) or saga.payment_id or \
            saga.current == "charge"
        direction = "forward" if saga.status == SagaStatus.RUNNING and charge_attempted else "compensate"
        with log_context(saga_id=saga.id):
            try:
                result = _operate(saga.id, direction, force=False)
            except (SagaInProgress, SagaNotRecoverable):
                summary["still_stuck"] += 1
                continue
            except Exception:
                logger.exception("recovering saga failed")
                summary["still_stuck"] += 1
                continue
        if result.status == SagaStatus.COMPLETED:
            summary["completed"] += 1
        elif result.status == SagaStatus.COMPENSATED:
            summary["compensated"] += 1
        else:
            summary["still_stuck"] += 1
    if summary["found"]:
        logger.info("saga recovery", extra=summary)
    return summary
