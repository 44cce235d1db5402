"""Logs are JSON lines carrying the request and tenant ids (and the saga id where one is bound)."""

from __future__ import annotations

import io
import json
import logging

import pytest

from pos.logging import ContextFilter, JsonFormatter, log_context

pytestmark = [pytest.mark.django_db(databases="__all__"), pytest.mark.urls("tests.kernel_urls")]


@pytest.fixture
def captured():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("pos")
    logger.addHandler(handler)
    yield stream
    logger.removeHandler(handler)


def test_an_api_error_log_carries_request_and_tenant_ids(api, tenant, captured):
    response = api.get("/api/v1/test/boom", HTTP_X_REQUEST_ID="req-abcdef12")
    assert response.status_code == 500
    lines = [json.loads(line) for line in captured.getvalue().splitlines()]
    error = next(line for line in lines if line["msg"] == "unhandled error")
    assert error["request_id"] == "req-abcdef12"
    assert error["tenant_id"] == str(tenant.id)
    assert error["level"] == "ERROR"
    assert "RuntimeError: boom" in error["exc"]


def test_bound_fields_such_as_the_saga_id_are_logged(captured):
    with log_context(saga_id="saga-1", tenant_id="t-1"):
        logging.getLogger("pos.test").info("step done", extra={"step": "reserve"})
    logging.getLogger("pos.test").info("outside")
    first, second = (json.loads(line) for line in captured.getvalue().splitlines())
    assert (first["saga_id"], first["tenant_id"], first["step"]) == ("saga-1", "t-1", "reserve")
    assert "saga_id" not in second
