"""Docs and headers: Swagger UI from our own static files, a Content-Security-Policy, no-store on authenticated
API answers."""

from __future__ import annotations

import re

import pytest

pytestmark = pytest.mark.django_db(databases="__all__")


def test_swagger_ui_is_served_by_the_project_not_a_cdn(client):
    page = client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    sources = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert sources and all(not s.startswith(("http://", "https://", "//")) for s in sources), sources
    assert any("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in s for s in sources)
    assert "<script>" not in html  # the page's own script is a separate file: no inline script for the CSP
    script = [s for s in sources if "script" in s and "docs" in s]
    assert script and client.get(script[0]).status_code == 200


def test_every_page_has_a_content_security_policy(client, api):
    for response in (client.get("/api/v1/docs/"), client.get("/admin/login/"), api.get("/api/v1/me"),
                     client.get("/healthz")):
        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
        assert directives["default-src"] == "'self'"
        assert directives["script-src"] == "'self'"
        assert directives["frame-ancestors"] == "'none'"
        assert directives["object-src"] == "'none'"


def test_authenticated_api_answers_are_not_stored(api, client):
    for response in (api.get("/api/v1/me"), api.get("/api/v1/orders"), api.get("/api/v1/orders/nope")):
        assert "no-store" in response["Cache-Control"] and "private" in response["Cache-Control"]
    failed = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer pos_0_wrong")
    assert "no-store" in failed["Cache-Control"]
