"""The OpenAPI schema of the terminal API, made to tell the truth.

`AutoSchema`: drf-spectacular's generator, plus what it leaves out, so the schema states every limit a request is
checked against (tests/test_schema_limits.py holds it to that).

`document_problems`: a post-processing hook, so each view documents only its success shape and the error answers
the kernel gives every endpoint are documented once, here, the way the kernel produces them (problem+json):

- 400 (invalid input, hostile bodies and queries), 401 (no or wrong token), 403 (the permission matrix, the
  tenant header), 404 (unknown ids, unknown formats), 429 (failed-credentials throttle, with Retry-After) and
  503 (a module database, the cache or the payment provider unreachable) on every operation;
- 409 (Idempotency-Key still in progress, stale versions, conflicts), 413 (body too large) and 422 (Idempotency-
  Key reused with another body, refused business rules) on every write;
- the Idempotency-Key header with its length and pattern, exactly as `pos.api.idempotency` checks it;
- no NUL character in any free-text string a client sends (query, path, request bodies), as the kernel refuses
  them (pos.api.parsers, pos.middleware).
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_list_serializer

from pos.api.errors import PROBLEM_CONTENT_TYPE


class AutoSchema(SpectacularAutoSchema):
    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        # A nested `many=True` serializer checks `allow_empty`, `min_length` and `max_length`, which drf-spectacular
        # does not document (it does for ListField).
        # A field whose bounds a service checks for every caller (and answers with its own problem) states them here.
        if schema and getattr(field, "schema_limits", None):
            schema.update(field.schema_limits)
        if is_list_serializer(field) and schema and schema.get("type") == "array":
            minimum = field.min_length if field.min_length is not None else (0 if field.allow_empty else 1)
            if minimum:
                schema["minItems"] = minimum
            if field.max_length is not None:
                schema["maxItems"] = field.max_length
        return schema


PROBLEM_SCHEMA = {
    "type": "object",
    "description": "An RFC 9457 problem.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object", "properties": {
            "field": {"type": "string"}, "message": {"type": "string"}, "code": {"type": "string"}}}},
    },
    "required": ["type", "title", "status", "detail"],
    "additionalProperties": True,
}
RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before trying again.",
                               "schema": {"type": "string", "pattern": "^[0-9]+$"}}}
EVERY_OPERATION = {
    400: "Invalid input: fields, query parameters, or a hostile body (deep JSON, NUL, lone surrogates, huge numbers).",
    401: "No terminal token, or an unknown, revoked or expired one.",
    403: "The terminal's role may not do this (see the permission matrix), or X-Tenant-ID disagrees with the token.",
    404: "No such resource in this restaurant.",
    429: "Too many failed credentials from this address; retry after Retry-After seconds.",
    503: "A module database, the cache or the payment provider is unreachable; retry later.",
}
WRITES = {
    409: "A request with this Idempotency-Key is still running (Retry-After), or the resource changed meanwhile.",
    413: "The request body is too large.",
    422: "The Idempotency-Key was used for another request, or a business rule refuses it.",
}
NO_NUL = "^[^\\u0000]*$"
IDEMPOTENCY_KEY_SCHEMA = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}
METHODS = {"get", "post", "put", "patch", "delete"}


def _problem(description: str, existing: dict | None, code: int) -> dict:
    response = dict(existing or {})
    response.setdefault("description", description)
    if not response.get("description"):
        response["description"] = description
    content = dict(response.get("content") or {})
    content.pop("application/json", None)  # errors are problem+json, never plain JSON
    content[PROBLEM_CONTENT_TYPE] = {"schema": {"$ref": "#/components/schemas/Problem"}}
    response["content"] = content
    if code in (409, 429):
        response["headers"] = {**response.get("headers", {}), **RETRY_AFTER}
    return response


def _no_nul(schema: dict) -> None:
    """Add the no-NUL pattern to free-text strings (no format, enum or pattern of their own), recursively."""
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not ({"format", "enum", "pattern", "$ref"} & set(schema)):
        schema["pattern"] = NO_NUL
    for key in ("properties", "patternProperties"):
        for child in (schema.get(key) or {}).values():
            _no_nul(child)
    for key in ("items", "additionalProperties"):
        _no_nul(schema.get(key))
    for key in ("allOf", "anyOf", "oneOf"):
        for child in schema.get(key) or []:
            _no_nul(child)


def document_problems(result, generator, request, public):
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    for name, component in schemas.items():
        if name.endswith("Request"):  # what clients send (COMPONENT_SPLIT_REQUEST)
            _no_nul(component)
    schemas["Problem"] = PROBLEM_SCHEMA
    for operations in result.get("paths", {}).values():
        for method, operation in operations.items():
            if method not in METHODS:
                continue
            codes = dict(EVERY_OPERATION)
            if method != "get":
                codes.update(WRITES)
            responses = operation.setdefault("responses", {})
            for code, description in codes.items():
                responses[str(code)] = _problem(description, responses.get(str(code)), code)
            for code, response in list(responses.items()):
                if code[0] in "45" and int(code) not in codes:  # a view's own error answers, e.g. 402
                    responses[code] = _problem(response.get("description") or "A problem.", response, int(code))
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "header" and parameter.get("name") == "Idempotency-Key":
                    parameter["schema"] = dict(IDEMPOTENCY_KEY_SCHEMA)
                elif parameter.get("in") in ("query", "path"):
                    _no_nul(parameter.get("schema"))
    return result
