"""System checks for what import-linter cannot see: relation fields that cross modules (class or string
references, which only fail at run time across databases) and Celery task names outside their module's
namespace."""

from __future__ import annotations

from collections.abc import Iterable

from django.apps import apps
from django.core import checks
from django.db import models

from pos.modules import KERNEL_APP, alias_of_app, import_task_modules, module_of_app


def _target_app_label(field: models.Field) -> str | None:
    target = field.remote_field.model
    if isinstance(target, str):
        if target == "self" or "." not in target:
            return None
        return target.split(".", 1)[0]
    return target._meta.app_label


def relation_errors(model_list: Iterable[type[models.Model]]) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for model in model_list:
        source_app = model._meta.app_label
        source_module = module_of_app(source_app)
        if source_module is None:
            continue
        for field in model._meta.get_fields():
            # forward ForeignKey, OneToOne and ManyToMany fields; reverse relations are auto-created
            if not field.is_relation or field.auto_created or field.remote_field is None:
                continue
            target_app = _target_app_label(field)
            if target_app is None or target_app == source_app:
                continue
            target_module = module_of_app(target_app)
            crosses_module = target_module is not None and target_module != source_module
            crosses_database = alias_of_app(target_app) != alias_of_app(source_app) or target_app == KERNEL_APP
            if crosses_module or crosses_database:
                errors.append(checks.Error(
                    f"{model._meta.label}.{field.name} is a relation to {target_app} "
                    f"(module {target_module or target_app}), outside module {source_module}.",
                    hint="Store the other module's id as a plain field and call its api.py for the data.",
                    obj=model,
                    id="pos.E001",
                ))
    return errors


def task_name_errors(tasks: dict) -> list[checks.CheckMessage]:
    errors: list[checks.CheckMessage] = []
    for name, task in tasks.items():
        if name.startswith("celery."):
            continue
        defined_in = getattr(task, "__module__", "") or ""
        parts = defined_in.split(".")
        if parts[0] == "modules" and len(parts) > 1:
            namespace = parts[1]
        elif parts[0] == KERNEL_APP:
            namespace = KERNEL_APP
        else:
            continue
        if not name.startswith(namespace + "."):
            errors.append(checks.Error(
                f"Celery task {name!r} is defined in {defined_in} but not named in its namespace {namespace!r}.",
                hint=f"Name it '{namespace}.<action>' so routing and ownership stay with the module.",
                id="pos.E002",
            ))
    return errors


@checks.register("pos")
def check_module_relations(app_configs=None, **kwargs):
    return relation_errors(apps.get_models(include_auto_created=False))


@checks.register("pos")
def check_task_names(app_configs=None, **kwargs):
    from celery import current_app

    import_task_modules()
    return task_name_errors(dict(current_app.tasks))
