"""The OpenAPI schema states the limits a request is checked against, no more and no less, for every POST body.

Generic over the schema: for each POST operation with a JSON body, each limit the schema states on a field
(minimum, maximum, minLength, maxLength, minItems, maxItems, enum) is tried exactly at the limit (the field must
not be refused) and one step beyond it (refused: 400 naming the field). Fields without a stated upper limit are
tried with a large value (a limit the schema does not state would refuse it). The only refusals allowed at the
limit are the business rules listed in BUSINESS_RULES: the schema cannot know which products exist or what is due.

Each operation needs a valid request to start from (VALID_REQUESTS): a new POST endpoint fails
`test_every_post_body_is_covered` until it has one.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

import pytest
from drf_spectacular.generators import SchemaGenerator

from conftest import make_terminal_client
from modules.pos_core.tests.conftest import make_catalog, order_body
from modules.restaurant import api as restaurant
from pos.api.schema import NO_NUL

pytestmark = pytest.mark.django_db(databases="__all__")

_keys = itertools.count(1)
LARGE_STRING = 5_000
LARGE_ARRAY = 300
LARGE_INTEGER = 10**12

# Business rules of an order's items, for a counter order and for a table check's round alike: the schema allows
# any product id; the catalog says which exist, which variants they have, and how many options of each group.
_ITEM_RULES = {"items[0].product_id": {"unknown_product"}, "items[0].variant": {"unknown_variant"},
               "items[0].options": {"invalid_options"}}

# (operation, field) -> codes of business rules that may refuse a value the schema allows.
BUSINESS_RULES: dict[tuple[str, str], set[str]] = {
    **{("/api/v1/orders", field): codes for field, codes in _ITEM_RULES.items()},
    **{("/api/v1/orders/{order_id}/items", field): codes for field, codes in _ITEM_RULES.items()},
    ("/api/v1/orders", "table_id"): {"unknown_table"},
    # Cash tendered must cover the amount due, and may exceed it by at most the restaurant's largest change.
    ("/api/v1/orders", "payment.tendered"): {"insufficient_tender", "excessive_tender"},
    ("/api/v1/orders/{order_id}/payments", "tendered"): {"insufficient_tender", "excessive_tender"},
    # The restaurant says which payment methods it accepts.
    ("/api/v1/orders", "payment.method"): {"method_not_accepted"},
    ("/api/v1/orders/{order_id}/payments", "method"): {"method_not_accepted"},
}


def _schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def _post_bodies(schema: dict) -> dict[str, dict]:
    bodies = {}
    for path, operations in schema["paths"].items():
        body = operations.get("post", {}).get("requestBody")
        if body:
            bodies[path] = body["content"]["application/json"]["schema"]
    return bodies


def _resolve(schema: dict, node: dict) -> dict:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].split("/")[-1]]
    if "allOf" in node and len(node["allOf"]) == 1:
        return _resolve(schema, {**{k: v for k, v in node.items() if k != "allOf"}, **node["allOf"][0]})
    return node


def _name(path: tuple) -> str:
    name = ""
    for part in path:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def _fields(schema: dict, node: dict, samples: list[dict], path: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """Every field of a body with its schema: nested objects, the first element of arrays of objects, and the keys
    the sample requests give a map ({"cash": 5000})."""
    node = _resolve(schema, node)
    if node.get("type") == "object" or "properties" in node:
        for key, child in node.get("properties", {}).items():
            yield from _fields(schema, child, samples, (*path, key))
        if isinstance(node.get("additionalProperties"), dict) and path:
            keys = {key for sample in samples if _has(sample, path) for key in _get(sample, path)}
            for key in sorted(keys):
                yield from _fields(schema, node["additionalProperties"], samples, (*path, key))
        return
    yield path, node
    items = node.get("items") and _resolve(schema, node["items"])
    if node.get("type") == "array" and items and (items.get("type") == "object" or "properties" in items):
        yield from _fields(schema, items, samples, (*path, 0))


def _get(body: Any, path: tuple) -> Any:
    for part in path:
        body = body[part]
    return body


def _has(body: dict, path: tuple) -> bool:
    try:
        _get(body, path)
    except (KeyError, IndexError, TypeError):
        return False
    return True


def _set(body: dict, path: tuple, value: Any) -> dict:
    body = copy.deepcopy(body)
    target = body
    for part in path[:-1]:
        target = target[part]
    target[path[-1]] = value
    return body


def _string(length: int, base: Any) -> str:
    seed = base if isinstance(base, str) and base else "x"
    return (seed * (length // len(seed) + 1))[:length]


def _array(length: int, base: Any) -> list:
    first = base[0] if isinstance(base, list) and base else "x"
    return [copy.deepcopy(first) for _ in range(length)]


# Schema type -> (lower limit keyword, upper limit keyword, value of a given size, a large size).
BOUNDS: dict[str, tuple[str, str, Callable[[int, Any], Any], int]] = {
    "integer": ("minimum", "maximum", lambda size, base: size, LARGE_INTEGER),
    "string": ("minLength", "maxLength", _string, LARGE_STRING),
    "array": ("minItems", "maxItems", _array, LARGE_ARRAY),
}


def _cases(node: dict, base: Any) -> Iterator[tuple[str, Any, bool]]:
    """(what, value, allowed) for each limit the field's schema states, and a large value where none is stated."""
    if "enum" in node:
        for choice in node["enum"]:
            if choice is not None:
                yield f"enum value {choice!r}", choice, True
        yield "a value outside the enum", "not-one-of-them", False
        return
    patterned = "pattern" in node and node["pattern"] != NO_NUL  # no-NUL is said of every free-text string
    if node.get("type") not in BOUNDS or (node["type"] == "string" and ("format" in node or patterned)):
        return  # a uuid, a date or a pattern is checked by its format, not by its length
    low, high, value, large = BOUNDS[node["type"]]
    if low in node:
        yield low, value(node[low], base), True
        yield f"{low} - 1", value(node[low] - 1, base), False
    if high in node:
        yield high, value(node[high], base), True
        yield f"{high} + 1", value(node[high] + 1, base), False
    else:
        yield f"a large value (no {high} stated)", value(large, base), True


def _refusals(response) -> dict[str, set[str]]:
    """Field -> codes the response refused it with (field errors, or a domain error naming one field)."""
    if response.status_code != 400:
        return {}
    body = response.json()
    refused: dict[str, set[str]] = {}
    for error in body.get("errors", []):
        refused.setdefault(error["field"], set()).add(error.get("code", ""))
    if "field" in body:
        refused.setdefault(body["field"], set()).add(body["type"].rsplit("/", 1)[-1])
    return refused


# --- a valid request for every POST operation ----------------------------------------------------------

class Request(NamedTuple):
    url: str
    body: dict
    client: Any = None  # the shop's manager terminal unless the request needs a terminal of its own


@pytest.fixture
def shop(tenant):
    make_catalog(tenant.id, stock=1_000)
    client = make_terminal_client(tenant, "manager")
    return tenant, client


def _placed_order(client) -> dict:
    response = client.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY=f"limits-{next(_keys)}")
    assert response.status_code == 201, response.json()
    return response.json()


def _order(shop) -> Request:
    return Request("/api/v1/orders", order_body(table_id=None, note="no chilli"))


def _order_refund(shop) -> Request:
    order = _placed_order(shop[1])
    return Request(f"/api/v1/orders/{order['id']}/refund",
                   {"items": [{"item_id": order["items"][0]["id"], "quantity": 1}], "reason": "spilt", "restock": False})


def _payment_refund(shop) -> Request:
    order = _placed_order(shop[1])
    return Request(f"/api/v1/payments/{order['payment']['id']}/refunds",
                   {"amount": 100, "reason": "spilt", "currency": "MMK"})


def _adjustment(shop) -> Request:
    return Request("/api/v1/inventory/adjustments",
                   {"kind": "receive", "product_id": "mohinga", "quantity": 5, "reason": "delivery"})


def _count(shop) -> Request:
    return Request("/api/v1/inventory/adjustments", {"kind": "count", "product_id": "mohinga", "counted": 5})


def _free_table(tenant) -> str:
    return restaurant.create_table(tenant_id=tenant.id, code=f"L{next(_keys)}").id


def _occupied_table(tenant) -> str:
    table_id = _free_table(tenant)
    restaurant.open_tab(tenant_id=tenant.id, table_id=table_id)
    return table_id


def _move(shop) -> Request:
    tenant = shop[0]
    return Request(f"/api/v1/tables/{_occupied_table(tenant)}/move", {"target_table_id": _free_table(tenant)})


def _merge(shop) -> Request:
    tenant = shop[0]
    return Request(f"/api/v1/tables/{_occupied_table(tenant)}/merge", {"other_table_id": _occupied_table(tenant)})


def _open_check(shop) -> dict:
    """A table check with a first round of two mohinga and a large tea."""
    response = shop[1].post("/api/v1/orders", {"service": "table", "table_id": _free_table(shop[0]),
                                               "items": order_body()["items"]},
                            format="json", HTTP_IDEMPOTENCY_KEY=f"limits-{next(_keys)}")
    assert response.status_code == 201, response.json()
    return response.json()


def _round(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/items",
                   {"items": [{"product_id": "mohinga", "quantity": 1, "seat": 1, "note": "no chilli"}],
                    "version": check["version"]})


def _void(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/items/{check['items'][0]['id']}/void",
                   {"reason": "wrong dish", "made": False, "quantity": 1, "version": check["version"]})


def _check_payment(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/payments", {"method": "card", "amount": 1000, "tip": 0})


def _cash_check_payment(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/payments", {"method": "cash", "amount": 1000, "tendered": 1000})


def _discount(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/discounts",
                   {"amount": 100, "reason": "regular guest", "version": check["version"]})


def _split_equal(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/split", {"by": "equal", "count": 2, "version": check["version"]})


def _split_items(shop) -> Request:
    check = _open_check(shop)
    first, second = check["items"][:2]
    return Request(f"/api/v1/orders/{check['id']}/split",
                   {"by": "items", "parts": [{"items": [{"item_id": first["id"], "quantity": 1}]},
                                             {"items": [{"item_id": second["id"], "quantity": 1}]}],
                    "version": check["version"]})


def _comp(shop) -> Request:
    check = _open_check(shop)
    return Request(f"/api/v1/orders/{check['id']}/comps",
                   {"item_id": check["items"][0]["id"], "quantity": 1, "reason": "birthday",
                    "version": check["version"]})


def _with_open_shift(tenant) -> tuple[Any, str]:
    """A terminal of its own (its own cash drawer) with a shift open on it."""
    client = make_terminal_client(tenant, "manager")
    response = client.post("/api/v1/shifts", {"opening_float": 5000}, format="json",
                           HTTP_IDEMPOTENCY_KEY=f"limits-{next(_keys)}")
    assert response.status_code == 201, response.json()
    return client, response.json()["id"]


def _open_shift(shop) -> Request:
    return Request("/api/v1/shifts", {"opening_float": 5000, "currency": "MMK", "note": "morning"},
                   make_terminal_client(shop[0], "manager"))


def _cash_movement(shop) -> Request:
    client, shift_id = _with_open_shift(shop[0])
    return Request(f"/api/v1/shifts/{shift_id}/cash-movements",
                   {"kind": "in", "amount": 1000, "currency": "MMK", "reason": "float top-up"}, client)


def _close_shift(shop) -> Request:
    client, shift_id = _with_open_shift(shop[0])
    return Request(f"/api/v1/shifts/{shift_id}/close", {"counted": {"cash": 5000}, "note": "evening"}, client)


# Operation -> builders of valid requests; a field is tried on the first request that has it (a stock count takes
# `counted`, a delivery `quantity`).
VALID_REQUESTS: dict[str, list[Callable[[Any], Request]]] = {
    "/api/v1/orders": [_order],
    "/api/v1/orders/{order_id}/refund": [_order_refund],
    "/api/v1/payments/{payment_id}/refunds": [_payment_refund],
    "/api/v1/inventory/adjustments": [_adjustment, _count],
    "/api/v1/tables/{table_id}/move": [_move],
    "/api/v1/tables/{table_id}/merge": [_merge],
    "/api/v1/shifts": [_open_shift],
    "/api/v1/shifts/{shift_id}/cash-movements": [_cash_movement],
    "/api/v1/shifts/{shift_id}/close": [_close_shift],
    "/api/v1/orders/{order_id}/items": [_round],
    "/api/v1/orders/{order_id}/items/{item_id}/void": [_void],
    "/api/v1/orders/{order_id}/payments": [_check_payment, _cash_check_payment],
    "/api/v1/orders/{order_id}/discounts": [_discount],
    "/api/v1/orders/{order_id}/split": [_split_equal, _split_items],
    "/api/v1/orders/{order_id}/comps": [_comp],
}


def test_every_post_body_is_covered():
    assert set(_post_bodies(_schema())) == set(VALID_REQUESTS)


@pytest.mark.parametrize("operation", sorted(VALID_REQUESTS))
def test_the_schema_states_the_limits_that_are_enforced(shop, operation):
    schema = _schema()
    body_schema = _post_bodies(schema)[operation]
    samples = [(build, build(shop).body) for build in VALID_REQUESTS[operation]]
    wrong: list[str] = []
    checked = 0
    for path, node in _fields(schema, body_schema, [body for _, body in samples]):
        field = _name(path)
        build, sample = next(((b, body) for b, body in samples if _has(body, path)), samples[0])
        current = _get(sample, path) if _has(sample, path) else None
        for what, value, allowed in _cases(node, current):
            request = build(shop)  # a fresh resource for every attempt
            response = (request.client or shop[1]).post(request.url, _set(request.body, path, value), format="json",
                                                        HTTP_IDEMPOTENCY_KEY=f"limits-{next(_keys)}")
            assert response.status_code < 500, (operation, field, what, response.content)
            refused = _refusals(response)
            checked += 1
            if allowed:
                codes = refused.get(field, set()) - BUSINESS_RULES.get((operation, field), set())
                if codes:
                    wrong.append(f"{field} at {what}: refused ({', '.join(sorted(codes))}) though the schema allows it")
            elif field not in refused:
                wrong.append(f"{field} at {what}: accepted ({response.status_code}) though the schema refuses it")
    assert checked, f"{operation}: the schema states nothing to check"
    assert not wrong, f"{operation}:\n" + "\n".join(wrong)
