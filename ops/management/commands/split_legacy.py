"""Split a legacy shared POS database into the module databases (see docs/LEGACY.md)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from ops.legacy.db import LegacyDatabaseError
from ops.legacy.split import SplitError, Splitter


class Command(BaseCommand):
    help = ("Copy restaurants, staff, catalog and stock, orders with their snapshots, payments and refunds from a "
            "legacy shared database into the module databases, through each module's api. Idempotent (legacy ids "
            "are natural keys), resumable (--resume), never writes to the source; ends with a verification report "
            "and exits non-zero when it does not add up.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--source", required=True, help="The legacy database: postgres://... or sqlite:///path.")
        parser.add_argument("--tenant", help="Only this restaurant (its legacy slug).")
        parser.add_argument("--dry-run", action="store_true",
                            help="Read and check everything, write nothing, print the same report.")
        parser.add_argument("--batch", type=int, default=500, help="Orders per batch (and per checkpoint).")
        parser.add_argument("--resume", action="store_true", help="Continue after the last checkpoint.")
        parser.add_argument("--checkpoint", help="Checkpoint file (default var/legacy_split/<source digest>.json).")

    def handle(self, *args, source: str, tenant: str | None, dry_run: bool, batch: int, resume: bool,
               checkpoint: str | None, **options) -> None:
        try:
            splitter = Splitter(source=source, tenant=tenant, dry_run=dry_run, batch=batch, resume=resume,
                                checkpoint=checkpoint, out=self.stdout, err=self.stderr,
                                base_dir=Path(settings.VAR_DIR) / "legacy_split")
            result = splitter.run()
        except (SplitError, LegacyDatabaseError) as exc:
            raise CommandError(str(exc)) from exc
        if not result.ok:
            raise CommandError("Verification failed: see the lines marked MISMATCH above.")
