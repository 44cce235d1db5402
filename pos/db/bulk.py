"""Inserting many rows in one statement: of one model for batched imports (`copy_insert`), of several models
written together on a hot path (`insert_together`).

On PostgreSQL `copy_insert` streams the rows with COPY (several times faster than a multi-row INSERT for wide
rows with JSON); elsewhere it is `bulk_create`. Either way: one statement per call, inside the caller's
transaction, values prepared by each field exactly as `save()` would, no signals, no primary key returned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, models
from django.db.models.sql import InsertQuery
from django.db.models.sql.compiler import SQLInsertCompiler

from pos.db import executed

VALUES_ROWS = 50  # up to this many rows of a model: one VALUES list; more: UNNEST of arrays (Django's bulk form)
COPY_ROWS = 500  # more rows than this of a model (a batched import): their own COPY


def copy_insert(model: type[models.Model], objects: Sequence[models.Model], *, using: str,
                keep: Iterable[str] = ()) -> int:
    """Insert `objects` (new rows, primary keys set) into `model`'s table on `using`. Fields named in `keep`
    are written as set on the objects even when they are `auto_now`/`auto_now_add` (e.g. an imported row's
    original creation time). Returns the number of rows."""
    if not objects:
        return 0
    connection = connections[using]
    keep = set(keep)
    if connection.vendor != "postgresql":
        kept = {name: [getattr(obj, name) for obj in objects] for name in keep}
        model._base_manager.using(using).bulk_create(objects)
        if kept:  # bulk_create stamped them: write the originals back (SQLite and others only)
            for index, obj in enumerate(objects):
                for name, values in kept.items():
                    setattr(obj, name, values[index])
            model._base_manager.using(using).bulk_update(objects, list(kept))
        return len(objects)
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in fields)
    with connection.cursor() as cursor, cursor.cursor.copy(
            f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN") as copy:
        for obj in objects:
            copy.write_row([
                field.get_db_prep_save(getattr(obj, field.attname) if field.name in keep
                                       else field.pre_save(obj, True), connection)
                for field in fields])
    return len(objects)


def refresh_statistics(models_: Iterable[type[models.Model]], *, using: str) -> None:
    """After a bulk import, let the planner know the tables' new sizes (PostgreSQL `ANALYZE`; autovacuum would
    take a while, and a plan made for an empty table turns a join over a million imported rows quadratic).
    Elsewhere nothing to do."""
    connection = connections[using]
    if connection.vendor != "postgresql":
        return
    tables = ", ".join(connection.ops.quote_name(model._meta.db_table) for model in models_)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {tables}")


class Rows(list):
    """New rows of one model for `insert_together`; `raw` writes the values as set on the objects (an
    `auto_now_add` time the caller kept, say) instead of stamping them at the insert."""

    def __init__(self, objects: Iterable[models.Model] = (), *, raw: bool = False) -> None:
        super().__init__(objects)
        self.raw = raw


def insert_together(using: str, *groups: Sequence[models.Model], commit: bool = False) -> None:
    """Insert the rows of several models (each group: new rows of one model, primary keys set) in one statement
    on PostgreSQL (a `WITH` of INSERTs: one round trip, one statement however many tables; a group of more than
    COPY_ROWS rows goes by its own COPY, faster for an import's batch), elsewhere one `bulk_create` per group.
    Tenant-scoped rows are stamped (and checked) against the tenant in scope as `bulk_create` does; values are
    prepared by each field exactly as `save()` would. Foreign keys between the groups are fine (Django's are
    checked at commit). Inside the caller's transaction; no signals. `commit`: this is the transaction's last
    statement, and where it can (`pos.db.commits_with_last_statement`) the COMMIT is sent with it; the first of a
    transaction carries its BEGIN (`pos.db.transaction_control`)."""
    from pos.tenancy import TenantScopedModel

    groups = [group for group in groups if group]
    for group in groups:
        model = type(group[0])
        if any(type(obj) is not model or not obj._is_pk_set() for obj in group):
            raise ValueError(f"insert_together: a group holds new {model.__name__} rows only, primary keys set")
        if issubclass(model, TenantScopedModel):
            for obj in group:
                obj.stamp_tenant()
    connection = connections[using]
    if connection.vendor != "postgresql":
        for group in groups:
            model = type(group[0])
            if getattr(group, "raw", False):
                fields = [f for f in model._meta.concrete_fields if not f.generated]
                model._base_manager.using(using)._insert(group, fields=fields, using=using, raw=True)
            else:
                model._base_manager.using(using).bulk_create(group)
        return
    for group in [group for group in groups if len(group) > COPY_ROWS]:  # an import's batch: COPY is faster
        copy_insert(type(group[0]), group, using=using,
                    keep=[f.name for f in type(group[0])._meta.concrete_fields] if getattr(group, "raw", False) else ())
        _saved(group, using)
    groups = [group for group in groups if len(group) <= COPY_ROWS]
    if not groups:
        return
    statements = []
    for group in groups:
        model = type(group[0])
        model._base_manager.using(using)._prepare_for_bulk_create(group)
        raw = getattr(group, "raw", False)
        statement = _values_insert(model, group, connection, raw) if len(group) <= VALUES_ROWS else None
        if statement is None:
            query = InsertQuery(model)
            query.insert_values(_insert_fields(model), group, raw=raw)
            compiler = query.get_compiler(using=using)
            if len(group) <= VALUES_ROWS:  # a few rows: plain VALUES (UNNEST's arrays cost more to bind than saved)
                compiler = SQLInsertCompiler(query, connection, using)
            (statement,) = compiler.as_sql()
        statements.append(statement)
    *first, (last, _) = statements
    sql = " ".join(["WITH " + ", ".join(f"w{index} AS ({text})" for index, (text, _) in enumerate(first)), last]
                   if first else [last])
    with executed(using, sql, [param for _, params in statements for param in params], commit=commit):
        pass
    for group in groups:
        _saved(group, using)


def _insert_fields(model: type[models.Model]) -> list:
    return [f for f in model._meta.concrete_fields if not f.generated]


# (vendor, model, rows) -> the text of `INSERT INTO table (columns) VALUES (%s, ...), ...`, None for a model one of
# whose fields makes its own placeholder (Django's compiler then writes the statement).
_VALUES_SQL: dict[tuple, str | None] = {}


def _values_insert(model: type[models.Model], objects: Sequence[models.Model], connection,
                   raw: bool, fields: Sequence[models.Field] | None = None) -> tuple[str, list] | None:
    """The statement and parameters Django's `SQLInsertCompiler` would write for a few rows, without compiling it
    again each time: the text is kept per model, row count and fields (by default every field but generated
    ones), each value is prepared by its field as the compiler does (`pre_save`, unless raw, then
    `get_db_prep_save`). None when a value is an expression or a field makes its own placeholder: the compiler
    then does it."""
    fields = _insert_fields(model) if fields is None else list(fields)
    cache_key = (connection.vendor, model, len(objects), tuple(field.attname for field in fields))
    sql = _VALUES_SQL.get(cache_key, "")
    if sql is None:
        return None
    params = []
    for obj in objects:
        for field in fields:
            value = getattr(obj, field.attname) if raw else field.pre_save(obj, True)
            if hasattr(value, "resolve_expression"):
                return None
            params.append(field.get_db_prep_save(value, connection=connection))
    if not sql:
        if any(hasattr(field, "get_placeholder") for field in fields):
            _VALUES_SQL[cache_key] = None
            return None
        quote = connection.ops.quote_name
        row = "(" + ", ".join(["%s"] * len(fields)) + ")"
        sql = _VALUES_SQL[cache_key] = (
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608 - names from the model
            f"VALUES {', '.join([row] * len(objects))}")
    return sql, params


def _saved(objects: Sequence[models.Model], using: str) -> None:
    """Mark new rows as written to `using`, as `bulk_create` does."""
    for obj in objects:
        obj._state.adding = False
        obj._state.db = using
