"""`manage.py sagas`: list order sagas that are stuck or failed; resume or compensate one; run recovery."""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from pos.errors import DomainError

from ...saga import STUCK_AFTER, compensate, found_by_key, recover_stuck, resume
from ...selectors import saga_get, sagas_needing_attention


class Command(BaseCommand):
    help = ("List order sagas stuck mid-way (or failed), resume or compensate one, or run the recovery sweep. "
            "Exit status is non-zero on bad input or when an action does not finish the saga.")

    def add_arguments(self, parser) -> None:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--resume", metavar="SAGA_ID", help="Drive this saga forward to completion.")
        group.add_argument("--compensate", metavar="SAGA_ID", help="Undo this saga: refund, release the stock.")
        group.add_argument("--recover", action="store_true", help="Run the periodic recovery sweep once, now.")
        parser.add_argument("--older-than", type=int, default=int(STUCK_AFTER.total_seconds()), metavar="SECONDS",
                            help="A running saga untouched this long counts as stuck (default %(default)s).")
        parser.add_argument("--force", action="store_true",
                            help="Take the saga even if its lease is still held; with --compensate also run the "
                                 "compensations again on a compensated saga (each undoes only what is still there).")

    def handle(self, *args, **options) -> None:
        if options["older_than"] < 0:
            raise CommandError("--older-than must be 0 or more seconds.")
        older_than = timedelta(seconds=options["older_than"])
        if options["resume"] or options["compensate"]:
            saga_id = options["resume"] or options["compensate"]
            if saga_get(saga_id=saga_id) is None:
                raise CommandError(f"No saga {saga_id!r}.")
            action = resume if options["resume"] else compensate
            verb = "resuming" if options["resume"] else "compensating"
            self.stdout.write(f"{verb} saga {saga_id} ...")
            try:
                saga = action(saga_id=saga_id, force=options["force"])
            except DomainError as exc:
                raise CommandError(exc.detail) from None
            self.stdout.write(f"  step {saga.step}, status {saga.status}"
                              + (f", last error: {saga.last_error}" if saga.last_error else ""))
            if saga.status not in ("completed", "compensated"):
                raise CommandError(f"Saga {saga.id} is still {saga.status} at step {saga.step}.")
            self.stdout.write(self.style.SUCCESS(f"Saga {saga.id} {saga.status}."))
            return
        if options["recover"]:
            self.stdout.write(f"recovering sagas untouched for {options['older_than']}s ...")
            summary = recover_stuck(older_than=older_than)
            self.stdout.write(self.style.SUCCESS(", ".join(f"{k} {v}" for k, v in summary.items())))
            if summary["still_stuck"] or summary["failed"]:
                raise CommandError("Some sagas still need an operator; see `manage.py sagas`.")
            return
        rows = sagas_needing_attention(older_than=older_than)
        if not rows:
            self.stdout.write(self.style.SUCCESS("No stuck or failed sagas."))
            return
        self.stdout.write(f"{'saga id':36}  {'tenant':36}  {'status':12}  {'step':10}  {'in flight':12}  "
                          f"{'tries':>5}  updated")
        for saga in rows:
            self.stdout.write(f"{saga.id!s:36}  {saga.tenant_id!s:36}  {saga.status:12}  {saga.step:10}  "
                              f"{saga.current or '-':12}  {saga.attempts:>5}  {saga.updated_at:%Y-%m-%d %H:%M:%S}"
                              + f"\n    found by key: {found_by_key(saga)}"
                              + (f"\n    last error: {saga.last_error[:200]}" if saga.last_error else ""))
        self.stdout.write(f"{len(rows)} saga(s) need attention. Use --resume ID or --compensate ID.")
