"""Operate the event backbone: `manage.py events <stats|list|inspect|replay|sweep>`.

    manage.py events stats                          backlog, oldest pending age, dead letters per database
    manage.py events list --status dead --since 2h  events (newest first) with their delivery summary
    manage.py events inspect <event id>             one event: payload, deliveries, attempts, last errors
    manage.py events replay --id <event id>         resubmit its dead deliveries (also --name/--since/--until,
                                                    --handler, --all-dead; --include-delivered; --dry-run)
    manage.py events sweep [--loop]                 send (or, embedded, deliver) what is due now
    manage.py events purge [--dry-run]              delete delivered events, deliveries and inbox records older
                                                    than the retention window (EVENTS_RETENTION_HOURS), in batches

Times are ISO 8601 (`2026-11-24T18:00`, taken in the project's time zone when naive) or relative (`90s`,
`15m`, `2h`, `3d` ago). Every sub-command takes `--database` (repeatable) to look at some databases only."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import datetime, timedelta

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Count, Min
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from pos.events import relay
from pos.modules import module_aliases

_RELATIVE = re.compile(r"^(\d+)\s*([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def parse_when(value: str) -> datetime:
    match = _RELATIVE.match(value.strip())
    if match:
        return timezone.now() - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    parsed = parse_datetime(value.strip())
    if parsed is None:
        try:
            parsed = datetime.fromisoformat(value.strip())
        except ValueError:
            raise CommandError(
                f"Cannot read the time {value!r}: use ISO 8601 (2026-11-24T18:00) or relative (15m, 2h, 3d).") from None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed)
    return parsed


def _age(delta: timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    if seconds < 172800:
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"
    return f"{seconds // 86400}d"


class Command(BaseCommand):
    help = "Inspect and operate the event outbox: stats, list, inspect, replay, sweep."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{stats,list,inspect,replay,sweep,purge}")

        def common(p: CommandParser) -> CommandParser:
            p.add_argument("--database", action="append", dest="aliases", metavar="ALIAS",
                           help="Only this database (repeatable). Default: every module database.")
            return p

        def filters(p: CommandParser) -> None:
            p.add_argument("--name", help="Event name, e.g. inventory.stock_changed.")
            p.add_argument("--since", help="Occurred at or after (ISO 8601 or 15m/2h/3d ago).")
            p.add_argument("--until", help="Occurred before (ISO 8601 or relative).")
            p.add_argument("--tenant", help="Tenant id.")

        common(sub.add_parser("stats", help="Backlog, oldest pending age and dead letters per database."))

        p = common(sub.add_parser("list", help="List events, newest first."))
        filters(p)
        p.add_argument("--status", choices=["pending", "delivered", "dead"])
        p.add_argument("--limit", type=int, default=50)
        p.add_argument("--json", action="store_true", help="One JSON object a line.")

        p = common(sub.add_parser("inspect", help="Show one event and its deliveries."))
        p.add_argument("event_id")

        p = common(sub.add_parser("replay", help="Resubmit dead deliveries (once the handler is fixed)."))
        filters(p)
        p.add_argument("--id", action="append", dest="ids", metavar="EVENT_ID", help="Event id (repeatable).")
        p.add_argument("--handler", help="Only deliveries to this handler.")
        p.add_argument("--all-dead", action="store_true", help="Every dead delivery (no other filter needed).")
        p.add_argument("--include-delivered", action="store_true",
                       help="Also resubmit delivered ones (handlers' inboxes make it harmless).")
        p.add_argument("--dry-run", action="store_true", help="Show what would be replayed; change nothing.")

        p = common(sub.add_parser("sweep", help="Send (service) or deliver (embedded) what is due now."))
        p.add_argument("--loop", action="store_true", help="Keep sweeping (embedded mode has no beat).")
        p.add_argument("--interval-ms", type=int, default=None, help="Milliseconds between sweeps with --loop.")

        p = common(sub.add_parser("purge", help="Delete delivered events and inbox records past the retention."))
        p.add_argument("--dry-run", action="store_true", help="Count what would be deleted; delete nothing.")
        p.add_argument("--batch", type=int, default=None, help="Rows per batch (EVENTS_PURGE_BATCH).")

    # --- helpers -----------------------------------------------------------------------------------------

    def _aliases(self, options) -> list[str]:
        known = module_aliases()
        aliases = options.get("aliases") or known
        unknown = sorted(set(aliases) - set(known))
        if unknown:
            raise CommandError(f"Unknown database alias: {', '.join(unknown)}. Known: {', '.join(known)}.")
        return aliases

    def _events(self, alias: str, options):
        from pos.models import OutboxEvent

        qs = OutboxEvent.objects.using(alias).all()
        if options.get("name"):
            qs = qs.filter(name=options["name"])
        if options.get("since"):
            qs = qs.filter(occurred_at__gte=parse_when(options["since"]))
        if options.get("until"):
            qs = qs.filter(occurred_at__lt=parse_when(options["until"]))
        if options.get("tenant"):
            qs = qs.filter(tenant_id=self._uuid(options["tenant"], "tenant id"))
        return qs

    @staticmethod
    def _uuid(value: str, what: str) -> uuid.UUID:
        try:
            return uuid.UUID(value)
        except ValueError:
            raise CommandError(f"{value!r} is not a valid {what} (a UUID).") from None

    # --- sub-commands ------------------------------------------------------------------------------------

    def handle(self, *args, **options) -> None:
        getattr(self, f"do_{options['action']}")(options)

    def do_stats(self, options) -> None:
        from pos.models import EventDelivery, OutboxEvent

        now = timezone.now()
        header = f"{'database':<12} {'events':>8} {'pending':>8} {'oldest pending':>15} {'dead':>6} {'deliveries':>11}"
        self.stdout.write(header)
        totals = {"events": 0, "pending": 0, "dead": 0}
        for alias in self._aliases(options):
            events = OutboxEvent.objects.using(alias).count()
            by_status = dict(EventDelivery.objects.using(alias).values_list("status").annotate(n=Count("id")))
            oldest = EventDelivery.objects.using(alias).filter(status=EventDelivery.Status.PENDING).aggregate(
                oldest=Min("created_at"))["oldest"]
            pending = by_status.get(EventDelivery.Status.PENDING, 0)
            dead = by_status.get(EventDelivery.Status.DEAD, 0)
            self.stdout.write(f"{alias:<12} {events:>8} {pending:>8} {_age(now - oldest if oldest else None):>15} "
                              f"{dead:>6} {sum(by_status.values()):>11}")
            totals["events"] += events
            totals["pending"] += pending
            totals["dead"] += dead
        line = (f"Total: {totals['events']} events, {totals['pending']} pending deliveries, "
                f"{totals['dead']} dead letters.")
        self.stdout.write(self.style.WARNING(line) if totals["dead"] else self.style.SUCCESS(line))

    def do_list(self, options) -> None:
        from pos.models import EventDelivery

        if options["limit"] < 1:
            raise CommandError("--limit must be at least 1.")
        shown = 0
        for alias in self._aliases(options):
            qs = self._events(alias, options)
            if options.get("status"):
                qs = qs.filter(status=options["status"])
            rows = list(qs.order_by("-occurred_at")[: options["limit"]])
            counts: dict = {}
            for event_id, status, n in EventDelivery.objects.using(alias).filter(
                    event_id__in=[r.id for r in rows]).values_list("event_id", "status").annotate(n=Count("id")):
                counts.setdefault(event_id, {})[status] = n
            for row in rows:
                c = counts.get(row.id, {})
                if options["json"]:
                    self.stdout.write(json.dumps({
                        "database": alias, "id": str(row.id), "name": row.name, "version": row.version,
                        "tenant_id": str(row.tenant_id), "occurred_at": row.occurred_at.isoformat(),
                        "status": row.status, "attempts": row.attempts, "deliveries": c}))
                else:
                    summary = " ".join(f"{k}={v}" for k, v in sorted(c.items())) or "no subscribers"
                    self.stdout.write(f"{alias:<11} {row.id}  {row.occurred_at:%Y-%m-%d %H:%M:%S}  {row.name:<32} "
                                      f"{row.status:<9} attempts={row.attempts}  {summary}")
                shown += 1
        if not options["json"]:
            self.stdout.write(f"{shown} event(s).")

    def _find(self, event_id: uuid.UUID, aliases: list[str]):
        from pos.models import OutboxEvent

        for alias in aliases:
            row = OutboxEvent.objects.using(alias).filter(id=event_id).first()
            if row is not None:
                return alias, row
        raise CommandError(f"No event {event_id} in {', '.join(aliases)}.")

    def do_inspect(self, options) -> None:
        alias, row = self._find(self._uuid(options["event_id"], "event id"), self._aliases(options))
        self.stdout.write(f"Event {row.id} in database {alias}")
        for label, value in [("name", f"{row.name} v{row.version}"), ("tenant", row.tenant_id),
                             ("occurred at", row.occurred_at.isoformat()), ("status", row.status),
                             ("attempts", row.attempts)]:
            self.stdout.write(f"  {label:<12} {value}")
        self.stdout.write("  payload      " + json.dumps(row.payload, ensure_ascii=False, sort_keys=True))
        from pos.models import EventDelivery

        deliveries = list(EventDelivery.objects.using(alias).filter(event_id=row.id).order_by("handler_name"))
        self.stdout.write(f"  deliveries ({len(deliveries)}):")
        for d in deliveries:
            when = (f"delivered {d.delivered_at.isoformat()}" if d.status == EventDelivery.Status.DELIVERED
                    else f"next attempt {d.next_attempt_at.isoformat()}")
            self.stdout.write(f"    - {d.handler_name} -> {d.consumer_alias}: {d.status}, attempts {d.attempts}, "
                              f"{when}  [delivery {d.id}]")
            if d.first_delivered_at:
                self.stdout.write(f"      first delivered {d.first_delivered_at.isoformat()}")
            if d.replayed_at:
                self.stdout.write(f"      last replayed {d.replayed_at.isoformat()} "
                                  f"(after {d.attempts_at_replay} attempts)")
            if d.last_error:
                last = d.last_error.strip().splitlines()[-1]
                self.stdout.write(f"      last error: {last}")

    def do_replay(self, options) -> None:
        from pos.models import EventDelivery

        selectors = [options.get(k) for k in ("ids", "name", "since", "until", "tenant", "handler")]
        if not any(selectors) and not options["all_dead"]:
            raise CommandError("Say what to replay: --id, --name, --since/--until, --handler, --tenant, or --all-dead.")
        statuses = [EventDelivery.Status.DEAD]
        if options["include_delivered"]:
            statuses.append(EventDelivery.Status.DELIVERED)
        event_ids = [self._uuid(v, "event id") for v in options.get("ids") or []]
        aliases = self._aliases(options)
        if event_ids:
            found = {e for alias in aliases for e in self._events(alias, {}).filter(id__in=event_ids)
                     .values_list("id", flat=True)}
            missing = [str(e) for e in event_ids if e not in found]
            if missing:
                raise CommandError(f"No event {', '.join(missing)} in {', '.join(aliases)}.")
        total = 0
        for index, alias in enumerate(aliases, start=1):
            qs = EventDelivery.objects.using(alias).filter(
                status__in=statuses, event_id__in=self._events(alias, options).values("id"))
            if event_ids:
                qs = qs.filter(event_id__in=event_ids)
            if options.get("handler"):
                qs = qs.filter(handler_name=options["handler"])
            ids = list(qs.values_list("id", flat=True))
            prefix = f"[{index}/{len(aliases)}] {alias}"
            if options["dry_run"]:
                self.stdout.write(f"{prefix}: would replay {len(ids)} deliver{'y' if len(ids) == 1 else 'ies'}")
                total += len(ids)
                continue
            done = 0
            for start in range(0, len(ids), 200):
                done += relay.replay(alias, ids[start:start + 200], include_delivered=options["include_delivered"])
                if len(ids) > 200:
                    self.stdout.write(f"{prefix}: {done}/{len(ids)} resubmitted")
            self.stdout.write(f"{prefix}: resubmitted {done}")
            total += done
        verb = "would be replayed" if options["dry_run"] else "resubmitted"
        self.stdout.write(self.style.SUCCESS(f"Done: {total} deliveries {verb}."))
        if not options["dry_run"] and total:
            mode = "delivered in-process" if relay.in_process() else "sent to the workers"
            self.stdout.write(f"They are {mode}; check with `manage.py events stats`.")

    def do_sweep(self, options) -> None:
        from django.conf import settings

        aliases = self._aliases(options)
        interval_ms = options["interval_ms"] or settings.EVENTS_SWEEP_MS
        if interval_ms < 1:
            raise CommandError("--interval-ms must be at least 1.")
        while True:
            result = relay.sweep(aliases)
            what = "delivered" if relay.in_process() else "sent"
            self.stdout.write(", ".join(f"{a}: {n} {what}" for a, n in result.items()))
            if not options["loop"]:
                return
            time.sleep(interval_ms / 1000)

    def do_purge(self, options) -> None:
        from pos.events import purge as retention
        from pos.models import InboxRecord, OutboxEvent

        aliases = self._aliases(options)
        if options["batch"] is not None and options["batch"] < 1:
            raise CommandError("--batch must be at least 1.")
        now = timezone.now()
        cutoff = now - retention.retention()
        inbox_cutoff = cutoff - retention.retry_horizon()
        self.stdout.write(f"Retention {retention.retention()}: delivered events before {cutoff.isoformat()}, "
                          f"inbox records before {inbox_cutoff.isoformat()}; dead letters are kept.")
        if options["dry_run"]:
            for alias in aliases:
                events = OutboxEvent.objects.using(alias).filter(
                    status=OutboxEvent.Status.DELIVERED, delivered_at__lt=cutoff).count()
                inbox = InboxRecord.objects.using(alias).filter(handled_at__lt=inbox_cutoff).count()
                self.stdout.write(f"{alias}: would delete {events} events (with their deliveries), "
                                  f"{inbox} inbox records")
            return

        def progress(alias: str, table: str, deleted: int) -> None:
            self.stdout.write(f"  {alias} {table}: {deleted} deleted so far")

        report = retention.purge(aliases, now=now, batch=options["batch"], progress=progress)
        for alias in aliases:
            self.stdout.write(f"{alias}: {report.events[alias]} events, {report.deliveries[alias]} deliveries, "
                              f"{report.inbox[alias]} inbox records deleted")
        self.stdout.write(self.style.SUCCESS(f"Done: {report.total} rows in {report.batches} batches."))
