"""Hostile bodies, paths and queries get a 4xx problem and write nothing, on every endpoint.

The endpoint list comes from the live URL conf (every view under /api/v1/ with a POST handler) and is checked
against the OpenAPI schema, so an endpoint added later is attacked here without anyone listing it."""

from __future__ import annotations

import json
import re
import uuid

import pytest
from django.apps import apps
from django.conf import settings
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator

from conftest import make_terminal_client
from pos import tenancy
from pos.modules import alias_of_app, in_every_module_database

pytestmark = pytest.mark.django_db(databases="__all__")


def _api_views(resolver=None, prefix: str = ""):
    """(route, view class) of every DRF view reachable under /api/v1/."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from _api_views(entry, route)
        elif isinstance(entry, URLPattern) and hasattr(entry.callback, "view_class"):
            yield route, entry.callback.view_class


def _concrete(route: str) -> str:
    path = "/" + re.sub(r"<(?:\w+:)?\w+>", lambda _: str(uuid.uuid4()), route)
    return path.replace("^", "").replace("$", "")


def post_paths() -> list[str]:
    return sorted(_concrete(route) for route, view in _api_views()
                  if route.startswith("api/v1/") and "post" in view.http_method_names and hasattr(view, "post"))


def get_paths() -> list[str]:
    return sorted(_concrete(route) for route, view in _api_views()
                  if route.startswith("api/v1/") and hasattr(view, "get") and not route.startswith("api/v1/schema")
                  and not route.startswith("api/v1/docs"))


def test_the_endpoint_list_is_the_schema():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    in_schema = sorted(path for path, ops in schema["paths"].items() if "post" in ops)
    from_urls = sorted(re.sub(r"/[0-9a-f-]{36}", "/{}", path) for path in post_paths())
    assert [re.sub(r"\{\w+\}", "{}", path) for path in in_schema] == from_urls
    assert len(from_urls) >= 9


def row_counts() -> dict[str, int]:
    counts = {}
    with tenancy.all_tenants():
        for model in apps.get_models():
            if model._meta.proxy or not model._meta.managed:
                continue
            aliases = settings.DATABASES if in_every_module_database(model) else [alias_of_app(model._meta.app_label)]
            for alias in aliases:
                counts[f"{alias}:{model._meta.label}"] = model._base_manager.using(alias).count()
    return counts


DEEP_ARRAY = "[" * 1000 + "]" * 1000
DEEP_OBJECT = '{"a":' * 1000 + "1" + "}" * 1000
HOSTILE = [
    ("deep array", DEEP_ARRAY, 400),
    ("deep object", DEEP_OBJECT, 400),
    ("lone surrogate in a string", '{"reason": "refund \\ud800", "note": "\\udfff", "items": []}', 400),
    ("lone surrogate in a key", '{"\\ud800": 1}', 400),
    ("integer at 2**63", '{"amount": 9223372036854775808, "version": 9223372036854775808}', 400),
    ("integer below -2**63", '{"amount": -9223372036854775809}', 400),
    ("integer of 5000 digits", '{"amount": ' + "9" * 5000 + "}", 400),
    ("NUL in a string", '{"reason": "a\\u0000b", "note": "\\u0000", "target_table_id": "\\u0000"}', 400),
    ("NUL in a key", '{"a\\u0000": "x"}', 400),
    ("NaN", '{"amount": NaN}', 400),
    ("Infinity", '{"amount": 1e999}', 400),
    ("invalid UTF-8", b'{"reason": "\xff\xfe"}', 400),
]


@pytest.fixture
def manager(tenant):
    return make_terminal_client(tenant, "manager")


@pytest.mark.parametrize(("case", "body", "status"), HOSTILE, ids=[case for case, _, _ in HOSTILE])
def test_hostile_bodies_are_refused_on_every_post_endpoint(manager, case, body, status):
    before = row_counts()
    for n, path in enumerate(post_paths()):
        response = manager.generic("POST", path, body, content_type="application/json",
                                   HTTP_IDEMPOTENCY_KEY=f"hostile-{n}")
        assert response.status_code == status, (path, response.status_code, response.content[:300])
        assert response["Content-Type"].startswith("application/problem+json"), path
        assert response.json()["status"] == status
    assert row_counts() == before


def test_oversize_bodies_are_413_on_every_post_endpoint(manager):
    before = row_counts()
    big = json.dumps({"note": "x" * (settings.API_MAX_BODY_BYTES + 1)})
    for n, path in enumerate(post_paths()):
        response = manager.generic("POST", path, big, content_type="application/json",
                                   HTTP_IDEMPOTENCY_KEY=f"big-{n}")
        assert response.status_code == 413, (path, response.status_code)
        assert response["Content-Type"].startswith("application/problem+json")
    assert row_counts() == before


def test_a_body_without_content_length_stops_being_read_past_the_limit():
    """A chunked body declares no length to refuse up front: the parser reads at most one byte past the limit."""
    import io

    from pos.api.parsers import BodyTooLarge, JSONParser

    stream = io.BytesIO(json.dumps({"note": "x" * (settings.API_MAX_BODY_BYTES * 2)}).encode())
    with pytest.raises(BodyTooLarge):
        JSONParser().parse(stream)
    assert stream.tell() == settings.API_MAX_BODY_BYTES + 1


def test_nul_in_paths_and_queries_is_refused_on_every_get_endpoint(manager):
    for path in get_paths():
        for attempt in (path + "?q=%00", re.sub(r"[0-9a-f-]{36}", "a%00b", path)):
            if "%00" not in attempt:
                continue
            response = manager.get(attempt)
            assert response.status_code == 400, (attempt, response.status_code)
            assert response["Content-Type"].startswith("application/problem+json")


def test_a_hostile_body_does_not_burn_the_idempotency_key(manager, tenant):
    """The key of a refused body stays free: the corrected retry with the same key is processed."""
    from modules.restaurant import api as restaurant

    table = restaurant.create_table(tenant_id=tenant.id, code="H1", area="Main", seats=2)
    path = f"/api/v1/tables/{table.id}/open"
    refused = manager.generic("POST", path, '{"x": "\\ud800"}', content_type="application/json",
                              HTTP_IDEMPOTENCY_KEY="same-key")
    assert refused.status_code == 400
    opened = manager.post(path, {}, format="json", HTTP_IDEMPOTENCY_KEY="same-key")
    assert opened.status_code == 200, opened.json()
