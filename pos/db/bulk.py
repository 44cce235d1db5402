"""Inserting many rows of one model in one statement, for batched imports.

On PostgreSQL `copy_insert` streams the rows with COPY (several times faster than a multi-row INSERT for wide
rows with JSON); elsewhere it is `bulk_create`. Either way: one statement per call, inside the caller's
transaction, values prepared by each field exactly as `save()` would, no signals, no primary key returned."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connections, models


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
