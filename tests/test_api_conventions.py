"""The kernel's API conventions: problem+json for every error, Idempotency-Key semantics, schema, probes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from conftest import make_terminal_client
from pos.models import IdempotencyRecord
from tests import kernel_urls

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.urls("tests.kernel_urls")]
PROBLEM = "application/problem+json"


@pytest.fixture(autouse=True)
def _reset_calls():
    kernel_urls.calls.clear()
    kernel_urls.gate.clear()
    yield
    kernel_urls.gate.set()


def post(client, url, data, key="k-1", **extra):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(url, data, format="json", **headers, **extra)


def test_unknown_api_path_is_a_problem(api):
    response = api.get("/api/v1/does-not-exist")
    assert response.status_code == 404
    assert response["Content-Type"] == PROBLEM
    assert set(response.json()) >= {"type", "title", "status", "detail"}


def test_wrong_method_is_a_problem(api):
    response = api.delete("/api/v1/me")
    assert response.status_code == 405
    assert response["Content-Type"] == PROBLEM
    assert response.json()["status"] == 405


def test_malformed_json_is_a_problem_and_nothing_runs(api):
    response = api.generic("POST", "/api/v1/test/echo", "{not json", content_type="application/json",
                           HTTP_IDEMPOTENCY_KEY="bad-json")
    assert response.status_code == 400
    assert response["Content-Type"] == PROBLEM
    assert "JSON" in response.json()["detail"]
    assert kernel_urls.calls == []


def test_field_errors_are_listed(api):
    response = post(api, "/api/v1/test/echo", {"quantity": 0, "name": "x" * 20})
    assert response.status_code == 400
    body = response.json()
    assert body["type"].endswith("/invalid-input")
    assert {e["field"] for e in body["errors"]} == {"quantity", "name"}


def test_unhandled_error_is_a_500_problem(api):
    response = api.get("/api/v1/test/boom")
    assert response.status_code == 500
    assert response["Content-Type"] == PROBLEM
    assert "boom" not in response.content.decode()  # no internals leak


def test_domain_error_carries_its_extra_fields(api):
    response = post(api, "/api/v1/test/conflict", {})
    assert response.status_code == 409
    assert response.json()["detail"] == "Stock levels changed. Please refresh and try again."
    assert response.json()["lines"] == [{"product_id": "p1"}]


def test_missing_idempotency_key_is_refused_and_nothing_runs(api):
    response = post(api, "/api/v1/test/echo", {"quantity": 1, "name": "a"}, key=None)
    assert response.status_code == 400
    assert response.json()["type"].endswith("/idempotency-key-required")
    assert kernel_urls.calls == []


def test_same_key_same_body_replays_without_running_again(api):
    first = post(api, "/api/v1/test/echo", {"quantity": 2, "name": "tea"})
    second = post(api, "/api/v1/test/echo", {"name": "tea", "quantity": 2})  # same body, other key order
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json() == {"n": 1, "quantity": 2, "name": "tea"}
    assert second["Idempotent-Replayed"] == "true"
    assert len(kernel_urls.calls) == 1


def test_same_key_different_body_is_422(api):
    post(api, "/api/v1/test/echo", {"quantity": 2, "name": "tea"})
    response = post(api, "/api/v1/test/echo", {"quantity": 3, "name": "tea"})
    assert response.status_code == 422
    assert response.json()["type"].endswith("/idempotency-key-reused")
    assert len(kernel_urls.calls) == 1


def test_validation_errors_are_replayed_too(api):
    first = post(api, "/api/v1/test/echo", {"quantity": 0, "name": "a"}, key="k-invalid")
    second = post(api, "/api/v1/test/echo", {"quantity": 0, "name": "a"}, key="k-invalid")
    assert first.status_code == second.status_code == 400
    assert second["Idempotent-Replayed"] == "true"


def test_transient_conflicts_are_not_stored_so_a_retry_runs_again(api):
    assert post(api, "/api/v1/test/conflict", {}, key="k-c").status_code == 409
    assert post(api, "/api/v1/test/conflict", {}, key="k-c").status_code == 409
    assert len(kernel_urls.calls) == 2
    assert not IdempotencyRecord.objects.filter(key="k-c").exists()


def test_keys_are_scoped_per_tenant(api, other_api):
    post(api, "/api/v1/test/echo", {"quantity": 1, "name": "a"}, key="shared")
    response = post(other_api, "/api/v1/test/echo", {"quantity": 5, "name": "b"}, key="shared")
    assert response.status_code == 201
    assert response.json()["quantity"] == 5
    assert len(kernel_urls.calls) == 2


@pytest.mark.django_db(databases="__all__", transaction=True)
def test_a_concurrent_request_with_a_key_in_progress_gets_409(tenant):
    client = make_terminal_client(tenant)
    results: dict[str, int] = {}

    def first() -> None:
        results["first"] = post(client, "/api/v1/test/slow", {}, key="race").status_code

    thread = threading.Thread(target=first)
    thread.start()
    for _ in range(200):
        if IdempotencyRecord.objects.filter(key="race").exists():
            break
        threading.Event().wait(0.01)
    second = post(make_terminal_client(tenant), "/api/v1/test/slow", {}, key="race")
    kernel_urls.gate.set()
    thread.join(timeout=10)
    assert second.status_code == 409
    assert second.json()["type"].endswith("/idempotency-key-in-progress")
    assert results["first"] == 201
    assert len(kernel_urls.calls) == 1


def test_a_key_whose_request_died_is_taken_over_after_its_lock(api, tenant):
    IdempotencyRecord.objects.create(
        tenant_id=tenant.id, key="orphan", method="POST", path="/api/v1/test/echo",
        fingerprint=__import__("pos.api.idempotency", fromlist=["x"]).fingerprint(
            "POST", "/api/v1/test/echo", {"quantity": 1, "name": "a"}),
        locked_until=timezone.now() - timedelta(seconds=1), expires_at=timezone.now() + timedelta(hours=24))
    response = post(api, "/api/v1/test/echo", {"quantity": 1, "name": "a"}, key="orphan")
    assert response.status_code == 201
    assert IdempotencyRecord.objects.get(key="orphan").state == "completed"


def test_keys_are_kept_at_least_a_day_and_purged_after(api):
    post(api, "/api/v1/test/echo", {"quantity": 1, "name": "a"}, key="kept")
    record = IdempotencyRecord.objects.get(key="kept")
    assert record.expires_at - record.created_at >= timedelta(hours=24)
    from pos.api.idempotency import purge_expired

    assert purge_expired() == 0
    IdempotencyRecord.objects.filter(pk=record.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert purge_expired() == 1


def test_openapi_schema_is_valid(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--file", str(out), "--urlconf", "config.urls")
    assert "/api/v1/me" in out.read_text()


def test_docs_and_schema_are_served(api):
    assert api.get("/api/v1/schema/").status_code == 200
    assert api.get("/api/v1/docs/").status_code == 200


def test_liveness_and_readiness_answer_json(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}  # anonymous: no internals (tests/test_readiness.py has the details)


def test_every_response_carries_a_request_id(api):
    response = api.get("/api/v1/me", HTTP_X_REQUEST_ID="req-12345678")
    assert response["X-Request-ID"] == "req-12345678"
    assert len(api.get("/api/v1/me")["X-Request-ID"]) == 32
