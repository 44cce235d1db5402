"""`migrate` as Django has it, plus a warning when module databases are left unmigrated.

Each module has its own database, so a plain `migrate` (which only touches `default`) would silently
leave them behind. Use `migrate_all`."""

from __future__ import annotations

from django.core.management.commands.migrate import Command as DjangoMigrate

from pos.migrations_state import pending
from pos.modules import module_aliases


class Command(DjangoMigrate):
    def handle(self, *args, **options) -> None:
        super().handle(*args, **options)
        if options["verbosity"] < 1:
            return
        behind = {alias: len(todo) for alias in module_aliases() if alias != options["database"]
                  for todo in [pending(alias)] if todo}
        if behind:
            listing = ", ".join(f"{alias} ({count} unapplied)" for alias, count in behind.items())
            self.stderr.write(self.style.WARNING(
                f"Only database {options['database']!r} was migrated. Module databases still behind: {listing}. "
                "Run `manage.py migrate_all` to migrate every module database."))
