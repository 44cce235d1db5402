from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from ...errors import TenantInactive, TenantNotFound, TerminalNameTaken
from ...models import Role
from ...selectors import tenant_get_by_slug
from ...services import terminal_create


class Command(BaseCommand):
    help = "Create a POS terminal for a restaurant and print its API token (the last line of output)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The restaurant's slug.")
        parser.add_argument("--name", required=True, help="A name for the device, unique in the restaurant.")
        parser.add_argument("--role", default=Role.CASHIER, choices=Role.values)
        parser.add_argument("--expires-in-days", type=int, default=None,
                            help="The token stops working after this many days (default: no expiry).")

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1.")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            tenant = tenant_get_by_slug(slug=options["tenant"])
            issued = terminal_create(tenant_id=tenant.id, name=name, role=options["role"], expires_at=expires_at)
        except (TenantNotFound, TenantInactive, TerminalNameTaken) as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(f"Created terminal {issued.terminal.name!r} ({issued.terminal.role}) "
                          f"for {tenant.name} [{tenant.slug}], id {issued.terminal.id}"
                          + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC." if expires_at else "."))
        self.stdout.write("Send it as 'Authorization: Bearer <token>'. It is shown only now:")
        self.stdout.write(issued.token)
