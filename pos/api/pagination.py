from rest_framework import exceptions
from rest_framework.pagination import LimitOffsetPagination

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
