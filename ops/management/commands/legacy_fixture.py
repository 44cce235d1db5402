"""Write a realistic legacy shared database (docs/LEGACY.md) for trying and testing `split_legacy`."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from ops.legacy.db import LegacyDatabaseError, redact
from ops.legacy.fixture import generate


class Command(BaseCommand):
    help = ("Create a legacy shared POS database at --target (postgres://... or sqlite:///path, empty) with "
            "restaurants legacy-1..N, their staff, catalog, orders, payments and refunds, including the "
            "inconsistencies real ones have (see docs/LEGACY.md).")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--target", required=True, help="postgres://user@host/db or sqlite:///path (empty).")
        parser.add_argument("--tenants", type=int, required=True, help="Number of restaurants (slugs legacy-1..N).")
        parser.add_argument("--orders", type=int, required=True, help="Orders per restaurant.")
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed writes the same data.")
        parser.add_argument("--lines", type=int, default=None,
                            help="Exactly this many order lines in all (1-7 per order); default 1-7 at random.")

    def handle(self, *args, target: str, tenants: int, orders: int, seed: int, lines: int | None, **options) -> None:
        started = time.monotonic()
        self.stdout.write(f"Writing a legacy database to {redact(target)}: {tenants} restaurant(s), {orders:,} "
                          f"orders each, seed {seed} ...")
        try:
            summary = generate(target, tenants=tenants, orders=orders, seed=seed, lines=lines,
                               progress=lambda text: self.stderr.write(text))
        except (ValueError, LegacyDatabaseError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"Done in {time.monotonic() - started:.1f}s: {summary.line()}.")
