from django.core.management.base import BaseCommand, CommandError

from ...errors import TenantNotFound, TerminalNotFound
from ...selectors import tenant_get_by_slug
from ...services import terminal_find, terminal_revoke


class Command(BaseCommand):
    help = "Revoke a POS terminal's token at once (a lost or stolen device). Its name can then be reused."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--tenant", required=True, help="The restaurant's slug.")
        parser.add_argument("--name", required=True, help="The terminal's name.")

    def handle(self, *args, **options) -> None:
        try:
            tenant = tenant_get_by_slug(slug=options["tenant"])
            terminal = terminal_find(tenant_id=tenant.id, name=options["name"])
        except (TenantNotFound, TerminalNotFound) as exc:
            raise CommandError(exc.detail) from None
        terminal_revoke(terminal_id=terminal.pk)
        self.stdout.write(f"Revoked terminal {terminal.name!r} of {tenant.name} [{tenant.slug}], id {terminal.pk}: "
                          "its token no longer works.")
