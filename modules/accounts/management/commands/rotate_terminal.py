from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...errors import TenantInactive, TenantNotFound, TerminalNotFound
from ...selectors import tenant_get_by_slug
from ...services import terminal_find, terminal_rotate


class Command(BaseCommand):
    help = ("Give a POS terminal a new token (the last line of output); the old token stops working at once. "
            "The terminal keeps its name, role and history.")

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The restaurant's slug.")
        parser.add_argument("--name", required=True, help="The terminal's name.")
        expiry = parser.add_mutually_exclusive_group()
        expiry.add_argument("--expires-in-days", type=int, default=None,
                            help="The new token stops working after this many days (default: keep the expiry).")
        expiry.add_argument("--no-expiry", action="store_true", help="The new token does not expire.")

    def handle(self, *args, **options) -> None:
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        expires_at = None if options["no_expiry"] else (timezone.now() + timedelta(days=days) if days else False)
        try:
            tenant = tenant_get_by_slug(slug=options["tenant"])
            terminal = terminal_find(tenant_id=tenant.id, name=options["name"])
            issued = terminal_rotate(terminal_id=terminal.pk, expires_at=expires_at)
        except (TenantNotFound, TenantInactive, TerminalNotFound) as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(f"Rotated the token of terminal {terminal.name!r} of {tenant.name} [{tenant.slug}]; "
                          "the old token no longer works.")
        self.stdout.write("Send it as 'Authorization: Bearer <token>'. It is shown only now:")
        self.stdout.write(issued.token)
