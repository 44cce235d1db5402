import base64
import json

from django.db import connections
from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.utils.urls import remove_query_param, replace_query_param

MAX_OFFSET = 1_000_000_000


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=`; answers {count, next, previous, results}. Capped so a terminal cannot ask for all.

    Strict, as the schema says: a limit outside 1..200 or an offset that is not a whole number from 0 is a 400
    (DRF would quietly fall back to its defaults). A list view declares `pagination_class = Pagination`, which is
    also how the OpenAPI schema knows the list is paginated."""

    default_limit = 50
    max_limit = 200

    @staticmethod
    def _whole(request, name: str, low: int, high: int, default: int) -> int:
        raw = request.query_params.get(name)
        if raw is None or raw == "":
            return default
        if not (raw.isascii() and raw.isdigit()) or not low <= int(raw) <= high:
            raise exceptions.ValidationError({name: [f"A whole number from {low} to {high} is required."]})
        return int(raw)

    def get_limit(self, request) -> int:
        return self._whole(request, self.limit_query_param, 1, self.max_limit, self.default_limit)

    def get_offset(self, request) -> int:
        return self._whole(request, self.offset_query_param, 0, MAX_OFFSET, 0)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: (1, self.max_limit), self.offset_query_param: (0, MAX_OFFSET)}
        for parameter in parameters:
            low, high = bounds[parameter["name"]]
            parameter["schema"].update({"minimum": low, "maximum": high})
        return parameters


class KeysetPagination(Pagination):
    """Offset pages as `Pagination`, plus keyset pages for clients that walk a whole list (a terminal syncing the
    catalog): `?after=<cursor>` answers the rows after the cursor's row in the list's order, without counting
    or skipping rows, so a page costs the same at row 50 and at row 50,000.

    The list's order is the view's `keyset` (model fields, the last one unique, e.g. ("position", "id")); the
    queryset must be ordered by it. A page without `offset` links its `next` page by cursor; a page with `offset`
    links by offset, as before. Cursor pages answer `count: null` and `previous: null` (they go forward only).
    A cursor is opaque: the client passes back what `next` gave it. One that was not given out is a 400."""

    cursor_query_param = "after"
    max_cursor_length = 512
    deferred_join_from = 1000  # offsets from which the skipped rows are found in the index alone

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.keyset = tuple(view.keyset)
        raw = request.query_params.get(self.cursor_query_param)
        self.by_cursor = raw is not None
        self.offset_given = request.query_params.get(self.offset_query_param) not in (None, "")
        if not self.by_cursor:
            self.limit = self.get_limit(request)
            self.count = self.get_count(queryset)
            self.offset = self.get_offset(request)
            self.page = [] if self.count == 0 or self.offset > self.count else self.offset_page(queryset)
            return self.page
        if self.offset_given:
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Use either a cursor (after) or an offset, not both."]})
        self.limit = self.get_limit(request)
        self.offset = 0
        self.count = None
        values = self.decode_cursor(raw)
        from django.db.models import F
        from django.db.models.fields.tuple_lookups import Tuple, TupleGreaterThan

        after = TupleGreaterThan(Tuple(*(F(name) for name in self.keyset)), values)
        rows = list(queryset.filter(after)[:self.limit + 1])
        self.has_next = len(rows) > self.limit
        self.page = rows[:self.limit]
        return self.page

    def offset_page(self, queryset) -> list:
        """The page at `offset`. Deep in a large list on PostgreSQL, the rows to skip are found in the ordering
        index alone (`WHERE pk IN (SELECT pk ... OFFSET n LIMIT m)`, an index-only scan) and only the page's
        rows are read from the table."""
        window = slice(self.offset, self.offset + self.limit)
        if self.offset >= self.deferred_join_from and connections[queryset.db].vendor == "postgresql":
            return list(queryset.filter(pk__in=queryset.values("pk")[window]))
        return list(queryset[window])

    # --- the cursor: base64url of the last row's keyset values as JSON ---------------------------------------

    def encode_cursor(self, row) -> str:
        values = [getattr(row, name) for name in self.keyset]
        return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")

    def decode_cursor(self, raw: str) -> list:
        refused = exceptions.ValidationError({self.cursor_query_param: ["Not a cursor this list gave out."]})
        if not raw or len(raw) > self.max_cursor_length or not raw.isascii():
            raise refused
        try:
            values = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        except (ValueError, UnicodeDecodeError):
            raise refused from None
        if not isinstance(values, list) or len(values) != len(self.keyset):
            raise refused
        for value in values:  # the keyset's fields are whole numbers and strings
            if isinstance(value, bool) or not isinstance(value, int | str):
                raise refused
            if isinstance(value, int) and not -(2**63) <= value < 2**63:
                raise refused
        return values

    # --- links and the response ---------------------------------------------------------------------------

    def get_next_link(self):
        if self.offset_given:
            return super().get_next_link()
        if self.by_cursor:
            more = self.has_next
        else:
            more = self.offset + self.limit < self.count
        if not more or not self.page:
            return None
        url = self.request.build_absolute_uri()
        url = remove_query_param(url, self.offset_query_param)
        url = replace_query_param(url, self.limit_query_param, self.limit)
        return replace_query_param(url, self.cursor_query_param, self.encode_cursor(self.page[-1]))

    def get_previous_link(self):
        return None if self.by_cursor else super().get_previous_link()

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append({
            "name": self.cursor_query_param, "required": False, "in": "query",
            "description": "Keyset paging: the cursor from the previous page's `next` link. The page then holds "
                           "the rows after that one, costs the same however deep in the list it is, and answers "
                           "`count: null`. Not together with `offset`.",
            "schema": {"type": "string", "minLength": 1, "maxLength": self.max_cursor_length,
                       "pattern": "^[A-Za-z0-9_-]+$"},
        })
        return parameters

    def get_paginated_response_schema(self, schema):
        response = super().get_paginated_response_schema(schema)
        response["properties"]["count"] = {
            "type": "integer", "nullable": True, "example": 123,
            "description": "Rows matching the filters; null on a cursor (`after`) page."}
        response["properties"]["next"]["description"] = (
            "The next page: by cursor (`after`) unless the request gave an `offset`.")
        return response
