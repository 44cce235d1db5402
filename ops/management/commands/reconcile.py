"""`manage.py reconcile [--tenant SLUG] [--date YYYY-MM-DD] [--open-alerts]`: check that the modules agree
about money and stock (see ops/reconcile.py for every invariant); print a table of mismatches; exit non-zero
on any."""

from __future__ import annotations

from datetime import date

from django.core.management.base import BaseCommand, CommandError

from modules.accounts import api as accounts
from ops.alerts import open_alerts
from ops.reconcile import KINDS, reconcile


class Command(BaseCommand):
    help = ("Compare every module through its api: orders with their payments, refunds on both sides, refunded "
            "lines with the stock taken back, inventory's ledger with its levels and pos_core's stock levels; "
            "and back: captures, sales and active reservations without an order or a running saga. Prints a "
            "table of mismatches and exits 1 if there is any. Checks: " + "; ".join(KINDS.values()) + ".")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", metavar="SLUG", help="Only this restaurant (default: every one).")
        parser.add_argument("--date", metavar="YYYY-MM-DD",
                            help="Only orders, captures and sales of this day, in the restaurant's time zone "
                                 "(default: all days). Stock and reservations are checked as they are now.")
        parser.add_argument("--open-alerts", action="store_true",
                            help="Also open an alert per mismatch for managers and operators (as the nightly run does).")

    def handle(self, *args, **options) -> None:
        tenant_id = None
        if options["tenant"]:
            try:
                tenant_id = accounts.get_tenant_by_slug(options["tenant"]).id
            except accounts.TenantNotFound:
                raise CommandError(f"No restaurant with slug {options['tenant']!r}.") from None
        day = None
        if options["date"]:
            try:
                day = date.fromisoformat(options["date"])
            except ValueError:
                raise CommandError(f"--date must be YYYY-MM-DD, not {options['date']!r}.") from None
        report = reconcile(tenant_id=tenant_id, day=day, progress=lambda text: self.stdout.write(f"  checked {text}"))
        if report.mismatches:
            self.stdout.write(report.table())
        if options["open_alerts"]:
            counts = open_alerts(report)
            self.stdout.write(f"alerts: {counts['opened']} opened, {counts['refreshed']} still open")
        if not report.clean:
            raise CommandError(report.summary())
        self.stdout.write(self.style.SUCCESS(report.summary()))
