"""Migrate every module database: `default` (accounts, Django's contrib apps) and one per module."""

from __future__ import annotations

import time
from collections import Counter

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from pos.migrations_state import pending
from pos.modules import module_aliases


class Command(BaseCommand):
    help = "Migrate every module database and report what was applied per database."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--check", action="store_true",
                            help="Apply nothing; exit non-zero if any database has unapplied migrations.")
        parser.add_argument("--database", action="append", dest="aliases",
                            help="Only this database alias (repeatable). Default: all.")

    def handle(self, *args, **options) -> None:
        aliases = options["aliases"] or module_aliases()
        unknown = sorted(set(aliases) - set(module_aliases()))
        if unknown:
            raise CommandError(f"Unknown database alias: {', '.join(unknown)}. Known: {', '.join(module_aliases())}.")
        total = 0
        outstanding: dict[str, int] = {}
        for index, alias in enumerate(aliases, start=1):
            todo = pending(alias)
            prefix = f"[{index}/{len(aliases)}] {alias}"
            if options["check"]:
                outstanding[alias] = len(todo)
                state = f"{len(todo)} unapplied" if todo else "up to date"
                self.stdout.write(f"{prefix}: {state}")
                continue
            if not todo:
                self.stdout.write(f"{prefix}: up to date")
                continue
            started = time.monotonic()
            call_command("migrate", database=alias, verbosity=0, interactive=False, skip_checks=True)
            per_app = Counter(app for app, _ in todo)
            detail = ", ".join(f"{app} {count}" for app, count in sorted(per_app.items()))
            self.stdout.write(self.style.SUCCESS(
                f"{prefix}: applied {len(todo)} migration(s) in {time.monotonic() - started:.1f}s ({detail})"))
            total += len(todo)
        if options["check"]:
            missing = {alias: n for alias, n in outstanding.items() if n}
            if missing:
                raise CommandError("Unapplied migrations: " + ", ".join(f"{a} ({n})" for a, n in missing.items()))
            self.stdout.write(self.style.SUCCESS(f"All {len(aliases)} databases are up to date."))
            return
        self.stdout.write(self.style.SUCCESS(f"Done: {total} migration(s) applied across {len(aliases)} databases."))
