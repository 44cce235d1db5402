"""Terminal API: menus served now, tables and tab operations, problem responses, tenant isolation."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from modules.restaurant import api
from modules.restaurant.api import ItemSpec, SectionSpec, WindowSpec

from .conftest import count_queries, restaurant_events, totals

pytestmark = pytest.mark.django_db(databases="__all__")
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _post(client, path: str, body: dict | None = None, key: str | None = None):
    return client.post(path, body or {}, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)


def _today_and_other_days() -> tuple[tuple[str, ...], tuple[str, ...]]:
    today = DAYS[datetime.now(ZoneInfo("Asia/Yangon")).weekday()]
    return (today,), tuple(d for d in DAYS if d != today)


def _menu(tenant, catalog, name: str, count: int, days: tuple[str, ...] | None = None) -> str:
    ids = [catalog.add(tenant, f"{name} {n}", price=1000 + n) for n in range(count)]
    windows = [WindowSpec(days=days, starts_at=time(0), ends_at=time(23, 59, 59, 999999))] if days else []
    return api.create_menu(tenant_id=tenant.id, name=name, windows=windows, sections=[
        SectionSpec(names={"en": "Mains", "my": "ဟင်း"}, items=tuple(ItemSpec(product_id=p) for p in ids))]).id


def _table(tenant, code="T1", area="Ground floor"):
    return api.create_table(tenant_id=tenant.id, code=code, area=area, seats=4)


def _is_problem(response, status: int, slug: str) -> None:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith(slug)


# --- menus ---------------------------------------------------------------------------------------------


def test_menus_lists_only_those_served_now_with_prices_and_stock(terminal, tenant, catalog):
    client = terminal
    today, other_days = _today_and_other_days()
    served = _menu(tenant, catalog, "Today", 2, days=today)
    _menu(tenant, catalog, "Not today", 1, days=other_days)
    always = _menu(tenant, catalog, "Always", 1)
    response = client.get("/api/v1/menus")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and [m["id"] for m in body["results"]] == [always, served]
    item = body["results"][1]["sections"][0]["items"][0]
    assert item["price"] == {"amount": 1000, "currency": "MMK"}
    assert item["names"]["en"] == "Today 0" and item["stock_level"] == 0 and item["is_sold_out"] is True
    assert body["results"][1]["windows"][0]["days"] == list(today)


def test_menus_query_count_does_not_grow_with_items(terminal, tenant, catalog):
    client = terminal
    _menu(tenant, catalog, "Small", 2)
    client.get("/api/v1/menus")  # warm up
    with count_queries() as small:
        assert client.get("/api/v1/menus").status_code == 200
    _menu(tenant, catalog, "Large", 60)
    with count_queries() as large:
        response = client.get("/api/v1/menus")
    assert sum(len(s["items"]) for m in response.json()["results"] for s in m["sections"]) == 62
    assert totals(large) == totals(small)
    assert totals(large)["restaurant"] <= 4 and totals(large)["inventory"] <= 4


def test_menu_detail_and_isolation(terminal, other_api, tenant, catalog):
    client = terminal
    _, other_days = _today_and_other_days()
    menu_id = _menu(tenant, catalog, "Later", 1, days=other_days)
    response = client.get(f"/api/v1/menus/{menu_id}")
    assert response.status_code == 200 and response.json()["available_now"] is False
    _is_problem(other_api.get(f"/api/v1/menus/{menu_id}"), 404, "menu-not-found")
    _is_problem(client.get(f"/api/v1/menus/{uuid.uuid4()}"), 404, "menu-not-found")
    _is_problem(client.get("/api/v1/menus/garbage"), 404, "menu-not-found")
    assert other_api.get("/api/v1/menus").json()["count"] == 0


# --- tables --------------------------------------------------------------------------------------------


def test_tables_list_filters_and_isolation(terminal, other_api, tenant, other_tenant):
    client = terminal
    _table(tenant, "T1", "Ground floor")
    terrace = _table(tenant, "T2", "Terrace")
    _table(other_tenant, "X1", "Terrace")
    api.open_tab(tenant_id=tenant.id, table_id=terrace.id)
    body = client.get("/api/v1/tables").json()
    assert [t["code"] for t in body["results"]] == ["T1", "T2"]
    assert [t["code"] for t in client.get("/api/v1/tables?area=Terrace").json()["results"]] == ["T2"]
    assert [t["code"] for t in client.get("/api/v1/tables?status=free").json()["results"]] == ["T1"]
    _is_problem(client.get("/api/v1/tables?status=dirty"), 400, "invalid-input")
    assert [t["code"] for t in other_api.get("/api/v1/tables").json()["results"]] == ["X1"]
    _is_problem(other_api.get(f"/api/v1/tables/{terrace.id}"), 404, "table-not-found")
    assert client.get(f"/api/v1/tables/{terrace.id}").json()["status"] == "occupied"


def test_tables_list_query_count_does_not_grow(terminal, tenant):
    client = terminal
    for n in range(2):
        api.open_tab(tenant_id=tenant.id, table_id=_table(tenant, f"A{n}").id)
    client.get("/api/v1/tables")
    with count_queries() as few:
        client.get("/api/v1/tables")
    for n in range(10):
        api.open_tab(tenant_id=tenant.id, table_id=_table(tenant, f"B{n}").id)
    with count_queries() as many:
        assert client.get("/api/v1/tables").json()["count"] == 12
    assert totals(many) == totals(few)


def test_open_close_clean_flow_with_idempotent_retries(terminal, tenant):
    client = terminal
    table = _table(tenant)
    first = _post(client, f"/api/v1/tables/{table.id}/open", key="open-1")
    assert first.status_code == 200 and first.json()["status"] == "occupied"
    replay = _post(client, f"/api/v1/tables/{table.id}/open", key="open-1")
    assert replay.status_code == 200 and replay["Idempotent-Replayed"] == "true"
    assert replay.json() == first.json()
    conflict = _post(client, f"/api/v1/tables/{table.id}/open")
    _is_problem(conflict, 409, "table-not-free")
    assert conflict.json()["status"] == 409 and conflict.json()["table_id"] == table.id
    assert conflict.json()["table_status"] == "occupied"
    closed = _post(client, f"/api/v1/tables/{table.id}/close")
    assert closed.status_code == 200 and closed.json()["status"] == "needs_cleaning"
    _is_problem(_post(client, f"/api/v1/tables/{table.id}/close"), 409, "no-open-tab")
    assert len(restaurant_events("restaurant.tab_closed")) == 1
    assert _post(client, f"/api/v1/tables/{table.id}/clean").json()["status"] == "free"
    missing_key = client.post(f"/api/v1/tables/{table.id}/open", {}, format="json")
    _is_problem(missing_key, 400, "idempotency-key-required")
    assert api.get_table(tenant_id=tenant.id, table_id=table.id).status == "free"


def test_move_and_merge_endpoints(terminal, tenant):
    client = terminal
    t1, t2, t3 = _table(tenant, "T1"), _table(tenant, "T2"), _table(tenant, "T3")
    _post(client, f"/api/v1/tables/{t1.id}/open")
    _post(client, f"/api/v1/tables/{t3.id}/open")
    _is_problem(_post(client, f"/api/v1/tables/{t1.id}/move", {"target_table_id": str(uuid.uuid4())}),
                404, "table-not-found")
    _is_problem(_post(client, f"/api/v1/tables/{t1.id}/move", {"target_table_id": t3.id}), 409, "table-not-free")
    _is_problem(_post(client, f"/api/v1/tables/{t1.id}/move", {}), 400, "invalid-input")
    assert api.get_table(tenant_id=tenant.id, table_id=t1.id).status == "occupied"  # nothing changed
    moved = _post(client, f"/api/v1/tables/{t1.id}/move", {"target_table_id": t2.id})
    assert moved.status_code == 200 and moved.json()["id"] == t2.id and moved.json()["status"] == "occupied"
    _is_problem(_post(client, f"/api/v1/tables/{t2.id}/merge", {"other_table_id": t2.id}), 400, "same-table")
    merged = _post(client, f"/api/v1/tables/{t2.id}/merge", {"other_table_id": t3.id})
    assert merged.status_code == 200 and merged.json()["status"] == "occupied"
    assert api.get_table(tenant_id=tenant.id, table_id=t3.id).status == "needs_cleaning"


@pytest.mark.parametrize("action, body", [
    ("open", {}), ("close", {}), ("clean", {}), ("move", {"target": True}), ("merge", {"other": True})])
def test_other_tenant_cannot_touch_tables(other_api, tenant, other_tenant, action, body):
    mine, spare = _table(tenant, "T1"), _table(tenant, "T2")
    api.open_tab(tenant_id=tenant.id, table_id=mine.id)
    api.open_tab(tenant_id=tenant.id, table_id=spare.id)
    theirs = _table(other_tenant, "X1")
    payload = {}
    if "target" in body:
        payload = {"target_table_id": theirs.id}
    if "other" in body:
        payload = {"other_table_id": theirs.id}
    # their terminal on my table, and my table named as the target of their table
    _is_problem(_post(other_api, f"/api/v1/tables/{mine.id}/{action}", payload), 404, "table-not-found")
    if payload:
        key = "target_table_id" if "target" in body else "other_table_id"
        _is_problem(_post(other_api, f"/api/v1/tables/{theirs.id}/{action}", {key: mine.id}), 404, "table-not-found")
    assert api.get_table(tenant_id=tenant.id, table_id=mine.id).status == "occupied"
    assert api.get_table(tenant_id=other_tenant.id, table_id=theirs.id).status == "free"


def test_unauthenticated_requests_are_refused(client):
    assert client.get("/api/v1/menus").status_code == 401
    assert client.get("/api/v1/tables").status_code == 401


@pytest.fixture
def terminal(api):
    """The cashier terminal of `tenant` (named so the module `api` stays in reach)."""
    return api


