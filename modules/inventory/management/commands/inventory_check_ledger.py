"""Replay the stock ledger of every stock item and compare it with the stored level."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from modules.inventory.selectors import ledger_disagreements


class Command(BaseCommand):
    help = "Replay the stock movement ledger and report stock items whose level disagrees with it."

    def handle(self, *args, **options) -> None:
        checked, problems = ledger_disagreements()
        for problem in problems:
            self.stderr.write(self.style.ERROR(
                f"tenant {problem['tenant_id']} {problem['product_id']}/{problem['variant'] or '-'}: level "
                f"on_hand={problem['on_hand']} reserved={problem['reserved']} but ledger says "
                f"on_hand={problem['ledger_on_hand']} reserved={problem['ledger_reserved']}"))
        if problems:
            raise CommandError(f"{len(problems)} of {checked} stock items disagree with the ledger.")
        self.stdout.write(self.style.SUCCESS(f"All {checked} stock items agree with the ledger."))
