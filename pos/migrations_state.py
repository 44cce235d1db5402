"""What each module database still needs migrated."""

from __future__ import annotations

from django.db import connections
from django.db.migrations.executor import MigrationExecutor


def pending(alias: str) -> list[tuple[str, str]]:
    """Unapplied migrations this alias is allowed to run, as (app_label, name)."""
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    from django.db import router

    return [
        (migration.app_label, migration.name)
        for migration, backwards in plan
        if not backwards and _relevant(router, alias, migration)
    ]


def _relevant(router, alias: str, migration) -> bool:
    from django.apps import apps

    try:
        app_models = list(apps.get_app_config(migration.app_label).get_models())
    except LookupError:
        return router.allow_migrate(alias, migration.app_label)
    if not app_models:
        return router.allow_migrate(alias, migration.app_label)
    return any(router.allow_migrate_model(alias, model) for model in app_models)
