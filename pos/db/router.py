"""Sends every model to its module's database, refuses relations across databases, and lets each alias
migrate only its own apps. Kernel tables marked `in_every_module_database` (outbox, inbox) exist in every
module database and are always used with an explicit alias."""

from __future__ import annotations

from django.apps import apps

from pos.modules import KERNEL_APP, alias_of_app, in_every_module_database


class ModuleRouter:
    def _alias(self, model, hints) -> str:
        # A kernel row loaded from one module database keeps its relations in that database.
        instance = hints.get("instance")
        if in_every_module_database(model) and instance is not None and instance._state.db:
            return instance._state.db
        return alias_of_app(model._meta.app_label)

    def db_for_read(self, model, **hints):
        return self._alias(model, hints)

    def db_for_write(self, model, **hints):
        return self._alias(model, hints)

    def allow_relation(self, obj1, obj2, **hints):
        if in_every_module_database(type(obj1)) and in_every_module_database(type(obj2)):
            return obj1._state.db == obj2._state.db if obj1._state.db and obj2._state.db else None
        return alias_of_app(obj1._meta.app_label) == alias_of_app(obj2._meta.app_label)

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        if app_label == KERNEL_APP:
            # Migrations pass historical models, which lack class attributes: ask the live registry.
            model = None
            if model_name is not None:
                try:
                    model = apps.get_model(app_label, model_name)
                except LookupError:
                    model = None
            if model is not None and in_every_module_database(model):
                return True
            return db == "default"
        return db == alias_of_app(app_label)
