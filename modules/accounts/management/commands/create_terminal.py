from django.core.management.base import BaseCommand, CommandError

from ...errors import TenantNotFound, TerminalNameTaken
from ...models import Role
from ...selectors import tenant_get_by_slug
from ...services import terminal_create


class Command(BaseCommand):
    help = "Create a POS terminal for a restaurant and print its API token (the last line of output)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The restaurant's slug.")
        parser.add_argument("--name", required=True, help="A name for the device, unique in the restaurant.")
        parser.add_argument("--role", default=Role.CASHIER, choices=Role.values)

    def handle(self, *args, **options) -> None:
        name = options["name"].strip()
        if not name:
            raise CommandError("--name must not be empty.")
        try:
            tenant = tenant_get_by_slug(slug=options["tenant"])
            issued = terminal_create(tenant_id=tenant.id, name=name, role=options["role"])
        except (TenantNotFound, TerminalNameTaken) as exc:
            raise CommandError(exc.detail) from None
        self.stdout.write(f"Created terminal {issued.terminal.name!r} ({issued.terminal.role}) "
                          f"for {tenant.name} [{tenant.slug}], id {issued.terminal.id}.")
        self.stdout.write("Send it as 'Authorization: Bearer <token>'. It is shown only now:")
        self.stdout.write(issued.token)
