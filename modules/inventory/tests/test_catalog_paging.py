"""The catalog list by cursor (`?after=`) and by offset: every product once, in display order, filters kept,
constant queries whatever the page, bad cursors refused; on PostgreSQL every filter has its index."""

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connections
from django.test.utils import CaptureQueriesContext

from .factories import category, product

pytestmark = pytest.mark.django_db(databases="__all__")
PROBLEM = "application/problem+json"


@pytest.fixture
def catalog(tenant):
    noodles, drinks = category(tenant, "Noodles"), category(tenant, "Drinks")
    made = []
    for n in range(11):  # positions repeat (0, 0, 0, 1, 1, 1, ...): the id breaks the ties
        made.append(product(tenant, f"Dish {n:02}", position=n // 3, category_id=(noodles if n % 2 else drinks).id,
                            is_active=n != 4, stock=n + 1))
    order = [p.id for p in sorted(made, key=lambda p: (int(p.names["en"][5:]) // 3, p.id))]
    return {"noodles": noodles, "drinks": drinks, "order": order, "products": {p.id: p for p in made}}


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


def walk(client, path: str) -> tuple[list[str], list[dict]]:
    """Follow `next` from `path` to the end: the ids in the order served, and every page's body."""
    ids, bodies = [], []
    while path:
        response = client.get(path)
        assert response.status_code == 200, response.content
        body = response.json()
        bodies.append(body)
        ids += [p["id"] for p in body["results"]]
        path = _path(body["next"]) if body["next"] else None
    return ids, bodies


def test_following_next_walks_the_whole_catalog_by_cursor_once_in_display_order(api, catalog):
    ids, bodies = walk(api, "/api/v1/catalog/products?limit=2")
    assert ids == catalog["order"]
    assert len(bodies) == 6
    assert bodies[0]["count"] == 11  # the first page counts; the cursor pages do not
    assert all(body["count"] is None and body["previous"] is None for body in bodies[1:])
    assert all("after" in parse_qs(urlsplit(body["next"]).query) for body in bodies[:-1])
    assert all("offset" not in parse_qs(urlsplit(body["next"]).query) for body in bodies[:-1])


@pytest.mark.parametrize("query, expected", [
    ("category={noodles}", lambda p, c: p.category_id == c["noodles"].id),
    ("active=false", lambda p, c: not p.is_active),
    ("active=true&category={drinks}", lambda p, c: p.is_active and p.category_id == c["drinks"].id),
    ("q=dish 0", lambda p, c: p.names["en"].startswith("Dish 0")),
])
def test_cursor_pages_keep_the_filters(api, catalog, query, expected):
    query = query.format(noodles=catalog["noodles"].id, drinks=catalog["drinks"].id)
    ids, _ = walk(api, f"/api/v1/catalog/products?limit=2&{query}")
    products = catalog["products"]
    assert ids == [pid for pid in catalog["order"] if expected(products[pid], catalog)]


def test_offset_pages_still_count_and_link_by_offset(api, catalog):
    body = api.get("/api/v1/catalog/products?limit=4&offset=4").json()
    assert body["count"] == 11 and [p["id"] for p in body["results"]] == catalog["order"][4:8]
    assert parse_qs(urlsplit(body["next"]).query)["offset"] == ["8"]
    assert parse_qs(urlsplit(body["previous"]).query).get("offset", ["0"]) == ["0"]
    ids, _ = walk(api, "/api/v1/catalog/products?limit=4&offset=0")
    assert ids == catalog["order"]


def test_a_cursor_page_costs_the_same_queries_wherever_it_is(api, catalog):
    _, bodies = walk(api, "/api/v1/catalog/products?limit=3")
    counts = []
    for body in bodies[:-1]:
        with CaptureQueriesContext(connections["inventory"]) as queries:
            assert api.get(_path(body["next"])).status_code == 200
        counts.append(len(queries))
        assert not any("COUNT(" in q["sql"].upper() for q in queries.captured_queries)
    assert len(set(counts)) == 1 and counts[0] <= 3, counts  # products, categories, stock items


def cursor(values) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")


@pytest.mark.parametrize("after", [
    "not-a-cursor!", "%20", "x" * 600, cursor([1]), cursor([1, "a", 2]), cursor({"position": 1}),
    cursor([1.5, "a"]), cursor([True, "a"]), cursor([2**70, "a"]), cursor([None, "a"]), base64.b64encode(b"\xff").decode(),
])
def test_a_cursor_that_was_not_given_out_is_a_problem(api, catalog, after):
    response = api.get("/api/v1/catalog/products", {"after": after})
    assert response.status_code == 400 and response["Content-Type"] == PROBLEM
    assert response.json()["errors"][0]["field"] == "after"


def test_a_cursor_and_an_offset_together_are_a_problem(api, catalog):
    first = api.get("/api/v1/catalog/products?limit=2").json()
    after = parse_qs(urlsplit(first["next"]).query)["after"][0]
    response = api.get("/api/v1/catalog/products", {"after": after, "offset": 2})
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "after"


def test_another_restaurants_cursor_shows_only_your_own_products(api, other_api, catalog):
    first = api.get("/api/v1/catalog/products?limit=2").json()
    body = other_api.get(_path(first["next"])).json()
    assert body["results"] == [] and body["next"] is None


def test_the_schema_documents_the_cursor_and_the_nullable_count(api):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    operation = schema["paths"]["/api/v1/catalog/products"]["get"]
    assert "after" in {p["name"] for p in operation["parameters"]}
    page = operation["responses"]["200"]["content"]["application/json"]["schema"]
    page = schema["components"]["schemas"][page["$ref"].rsplit("/", 1)[1]] if "$ref" in page else page
    assert page["properties"]["count"]["nullable"] is True


def word(n: int) -> str:
    """A made-up word per number, as distinct as dish names are."""
    import hashlib

    return hashlib.md5(str(n).encode()).hexdigest()[:8]  # noqa: S324 - a name, not a secret


@pytest.fixture
def large_catalog(tenant):
    """3,000 products in 6 categories, analysed: enough rows that the planner's choice means something."""
    from modules.inventory import api as inventory

    connection = connections["inventory"]
    if connection.vendor != "postgresql":
        pytest.skip("indexes are PostgreSQL's to prove (EXPLAIN)")
    categories = inventory.import_categories(tenant_id=tenant.id, categories=[
        {"id": f"c{n}", "names": {"en": f"Category {n}", "my": f"Category {n}"}} for n in range(6)]).ids
    inventory.import_products(tenant_id=tenant.id, actor="test", products=[
        {"id": f"p{n}", "names": {"en": f"Dish {word(n)}", "my": f"Dish {n}"}, "price": 1000, "position": n,
         "category_id": categories[f"c{n % 6}"], "is_active": n % 10 != 0} for n in range(3000)])
    with connection.cursor() as cursor:
        cursor.execute("SELECT gin_clean_pending_list('inv_product_search_trgm'::regclass)")  # what VACUUM does
        cursor.execute("ANALYZE")
    return categories


@pytest.mark.parametrize("filters, index", [
    ({}, "inv_product_order"),
    ({"category_id": "c1"}, "inv_product_category_order"),
    ({"active": False}, "inv_product_active_order"),
    ({"query": word(1234)}, "inv_product_search_trgm"),
])
def test_every_filter_of_the_list_has_its_index_on_postgresql(tenant, large_catalog, filters, index):
    from modules.inventory.selectors import catalog_queryset
    from pos.tenancy import tenant_context

    if "category_id" in filters:
        filters = {**filters, "category_id": large_catalog[filters["category_id"]]}
    with tenant_context(tenant.id):
        sql, params = catalog_queryset(**filters)[:50].query.sql_with_params()
    with connections["inventory"].cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan


def test_deep_offset_pages_on_postgresql_find_the_skipped_rows_in_the_index(api, catalog, monkeypatch):
    from pos.api.pagination import KeysetPagination

    if connections["inventory"].vendor != "postgresql":
        pytest.skip("the deferred join is PostgreSQL's")
    monkeypatch.setattr(KeysetPagination, "deferred_join_from", 0)
    with CaptureQueriesContext(connections["inventory"]) as queries:
        ids, _ = walk(api, "/api/v1/catalog/products?limit=3&offset=0")
    assert ids == catalog["order"]
    assert any(" IN (SELECT" in q["sql"] and "OFFSET" in q["sql"] for q in queries.captured_queries)
