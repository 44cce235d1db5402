"""Writes that answer the rows they wrote, without reading them back: PostgreSQL's `RETURNING` (elsewhere a read
after the write). One statement instead of a locked read and a write. `update_returning` takes any queryset (its
filters are the condition); the hot paths' updates by equality go through `hot.update_where`, which writes the
same statement without compiling a query; `columns` and `from_row` serve both."""

from __future__ import annotations

from typing import Any

from django.db import connections, models
from django.db.models.sql import UpdateQuery


def columns(model: type[models.Model], using: str, table: str = "") -> str:
    """The model's columns, quoted (prefixed with `table.` when given), in the order `from_row` reads them."""
    quote = connections[using].ops.quote_name
    return ", ".join(f"{table + '.' if table else ''}{quote(field.column)}" for field in model._meta.concrete_fields)


def from_row(model: type[models.Model], row: tuple, using: str) -> models.Model:
    """A model instance from a row of `columns(model)`, each value converted as the ORM converts it."""
    connection = connections[using]
    decoded = []
    for field, value in zip(model._meta.concrete_fields, row, strict=True):
        for converter in field.get_db_converters(connection):
            value = converter(value, field, connection)
        decoded.append(value)
    return model.from_db(using, [field.attname for field in model._meta.concrete_fields], decoded)


def update_sql(rows: models.QuerySet, **values: Any) -> tuple[str, tuple]:
    """The SQL and parameters of `rows.update(**values)`, for a statement that wraps it (a `RETURNING`, a
    `WITH`). The queryset's own filters (the tenant scope) apply."""
    query = rows.query.chain(UpdateQuery)
    query.add_update_values(values)
    return query.get_compiler(rows.db).as_sql()


def update_returning(rows: models.QuerySet, lookup: dict[str, Any], **values: Any) -> models.Model | None:
    """`rows.update(**values)` of at most one row (the one `lookup` names), answering it as updated, or None if
    nothing matched (the filter is the condition: a status, enough stock): in the same statement on PostgreSQL,
    else read back after the update. The queryset's own filters (the tenant scope) apply."""
    model, using = rows.model, rows.db
    connection = connections[using]
    if connection.vendor != "postgresql":
        if not rows.update(**values):
            return None
        return model.objects.using(using).get(**lookup)
    sql, params = update_sql(rows, **values)
    with connection.cursor() as cursor:
        cursor.execute(f"{sql} RETURNING {columns(model, using)}", params)
        found = cursor.fetchall()
    if not found:
        return None
    (row,) = found
    return from_row(model, row, using)
