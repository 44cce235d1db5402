from rest_framework.pagination import LimitOffsetPagination


class Pagination(LimitOffsetPagination):
    """`?limit=&offset=`; answers {count, next, previous, results}. Capped so a terminal cannot ask for all."""

    default_limit = 50
    max_limit = 200
