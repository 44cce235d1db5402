"""The OpenAPI schema generator of the terminal API: drf-spectacular's, plus what it leaves out, so the schema
states every limit a request is checked against (tests/test_schema_limits.py holds it to that)."""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import is_list_serializer


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
