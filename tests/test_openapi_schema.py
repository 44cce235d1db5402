"""What the OpenAPI schema says, checked against the code: paginated lists, error answers, Idempotency-Key, dates."""

from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from pos.api.idempotency import _KEY
from pos.api.pagination import Pagination


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _ref(schema, response):
    ref = response["content"]["application/json"]["schema"]["$ref"]
    return schema["components"]["schemas"][ref.rsplit("/", 1)[1]]


def test_every_list_is_documented_as_paginated_with_its_bounds(schema):
    from tests.test_hostile_input import _api_views

    paginated = {f"/{route}".replace("<str:", "{").replace("<uuid:", "{").replace(">", "}")
                 for route, view in _api_views() if getattr(view, "pagination_class", None) is Pagination}
    assert len(paginated) >= 7
    for path in paginated:
        operation = schema["paths"][path]["get"]
        body = _ref(schema, operation["responses"]["200"])
        assert {"count", "next", "previous", "results"} <= set(body["properties"]), path
        params = {p["name"]: p["schema"] for p in operation["parameters"]}
        assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200}, path
        assert params["offset"]["minimum"] == 0, path


def test_error_answers_are_documented_where_they_occur(schema):
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404", "429", "503"} <= codes, (method, path)
            if method == "post":
                assert {"409", "413", "422"} <= codes, (method, path)
            assert "Retry-After" in operation["responses"]["429"]["headers"]
            for code in codes - {"200", "201"}:
                assert set(operation["responses"][code]["content"]) == {"application/problem+json"}, (path, code)


def test_the_idempotency_key_has_the_length_and_pattern_the_kernel_checks(schema):
    import re

    posts = [op for ops in schema["paths"].values() for m, op in ops.items() if m == "post"]
    assert posts
    for operation in posts:
        [key] = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["required"] and key["in"] == "header"
        spec = key["schema"]
        assert (spec["minLength"], spec["maxLength"]) == (1, 255)
        for sample in ("a", "order-2026-11-30#1", "~" * 255, "", " x", "é", "a" * 256):
            documented = spec["minLength"] <= len(sample) <= spec["maxLength"] and re.match(spec["pattern"], sample)
            assert bool(documented) == bool(_KEY.match(sample)), sample


def test_dates_are_dates(schema):
    for path, name in [("/api/v1/reports/sales", "from"), ("/api/v1/reports/sales", "to"),
                       ("/api/v1/reports/end-of-day", "date"), ("/api/v1/orders", "date_from"),
                       ("/api/v1/orders", "date_to")]:
        [param] = [p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == name]
        assert param["schema"] == {"type": "string", "format": "date"}, (path, name)
