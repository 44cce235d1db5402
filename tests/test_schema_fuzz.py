"""The live OpenAPI schema against the live API, through schemathesis' engine: every operation, coverage phase
(each boundary and each kind of wrong value the schema implies) and fuzzing phase (bounded examples), as a
manager terminal of a restaurant with a catalog, stock, a table and an order. Required: no server error, no status
code the schema does not document, every response as its schema, headers and content type say, and every request
the schema forbids refused with a 4xx.

`SCHEMA_FUZZ_EXAMPLES` (default 12 per operation) and `SCHEMA_FUZZ_SEED` tune a run; the seed is fixed so a
failure reproduces."""

from __future__ import annotations

import os

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig
from schemathesis.engine import Status, from_schema
from schemathesis.engine import events as engine_events

from conftest import make_terminal_client

# The engine calls the app from its own thread (its own database connections): the data must be committed.
pytestmark = pytest.mark.django_db(transaction=True, databases="__all__")

CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance", "response_schema_conformance",
          "response_headers_conformance", "negative_data_rejection"]


def config(token: str) -> SchemathesisConfig:
    return SchemathesisConfig.from_dict({
        "seed": int(os.environ.get("SCHEMA_FUZZ_SEED", "20261130")),
        "suppress-health-check": ["too_slow", "filter_too_much", "data_too_large", "large_base_example"],
        "headers": {"Authorization": f"Bearer {token}"},
        "phases": {"examples": {"enabled": False}, "coverage": {"enabled": True}, "fuzzing": {"enabled": True},
                   "stateful": {"enabled": False}},
        "generation": {"max-examples": int(os.environ.get("SCHEMA_FUZZ_EXAMPLES", "12")), "database": "none"},
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
    })


@pytest.fixture
def terminal(tenant, settings):
    # schemathesis also sends wrong tokens on purpose: keep the failed-credentials throttle out of the way, or
    # every later request would be a (documented, but uninteresting) 429
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,
                               "DEFAULT_THROTTLE_RATES": {"failed_credentials": "1000000/min"}}
    from modules.pos_core.tests.conftest import make_catalog, order_body
    from modules.restaurant import api as restaurant

    make_catalog(tenant.id, stock=1000)
    restaurant.create_table(tenant_id=tenant.id, code="T1", area="Main", seats=4)
    client = make_terminal_client(tenant, "manager")
    assert client.post("/api/v1/orders", order_body(), format="json", HTTP_IDEMPOTENCY_KEY="seed-1").status_code == 201
    return client


def describe(label, phase, check, case, response) -> str:
    failure = check.failure_info.failure if check.failure_info else None
    headers = {k: v for k, v in (case.headers or {}).items() if k != "Authorization"}
    answer = f"{response.status_code} {response.headers.get('content-type')}" if response is not None else "-"
    return (f"{label} [{phase}] {check.name}: {failure.title if failure else ''} {failure.message if failure else ''}"
            f" <- {answer} -- {case.method} {case.formatted_path} query={case.query} headers={headers} "
            f"body={str(case.body)[:200]}")


def test_the_api_keeps_the_promises_of_its_schema(terminal):
    from config.wsgi import application

    schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application, config=config(terminal.token))
    failures, errors, scenarios, operations, statuses = [], [], 0, set(), {}
    for event in from_schema(schema).execute():
        if isinstance(event, engine_events.ScenarioFinished):
            scenarios += 1
            operations.add(event.label)
            for interaction in event.recorder.interactions.values():
                if interaction.response is not None:
                    statuses[interaction.response.status_code] = statuses.get(interaction.response.status_code, 0) + 1
            for case_id, checks in event.recorder.checks.items():
                for check in checks:
                    if check.status == Status.FAILURE:
                        interaction = event.recorder.interactions.get(case_id)
                        response = interaction.response if interaction is not None else None
                        case = event.recorder.cases[case_id].value
                        failures.append(describe(event.label, event.phase, check, case, response))
        elif isinstance(event, (engine_events.NonFatalError, engine_events.FatalError)):
            errors.append(str(getattr(event, "info", event))[:500])
    print(f"schemathesis: {scenarios} scenarios over {len(operations)} operations, {sum(statuses.values())} "
          f"requests, statuses {dict(sorted(statuses.items()))}, {len(failures)} failures")
    for failure in sorted(set(failures)):
        print("  ", failure.replace("\n", " / "))
    assert errors == []
    assert sorted(set(failures)) == []
    assert len(operations) >= 27
    assert statuses.get(200, 0) + statuses.get(201, 0) > 100  # the fuzzing reached the views, not just the doors
