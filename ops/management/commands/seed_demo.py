"""Seed a demo restaurant: a Yangon noodle shop (slug `demo`) with its manager, a counter terminal and
whatever each module contributes (catalog, menus, tables). Idempotent: running it again changes nothing
and prints no secrets again."""

from __future__ import annotations

import secrets

from django.core.management.base import BaseCommand
from django.db import transaction

from modules.accounts import api as accounts
from modules.inventory import api as inventory
from modules.restaurant import api as restaurant

DEMO_SLUG = "demo"
MANAGER_USERNAME = "manager"


class Command(BaseCommand):
    help = "Create (once) the demo restaurant, its manager login, a terminal and its catalog."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--base-url", default="http://127.0.0.1:8000",
                            help="Where the server will answer, for the login link printed once (make run passes it).")

    def handle(self, *args, **options) -> None:
        admin_url = options["base_url"].rstrip("/") + "/admin/"
        steps: list[str] = []
        try:
            tenant = accounts.get_tenant_by_slug(DEMO_SLUG)
            steps.append(f"tenant {tenant.name!r} [{DEMO_SLUG}] already exists")
            created = False
        except accounts.TenantNotFound:
            with transaction.atomic(using="default"):
                tenant = accounts.create_tenant(name="Shwe Yangon Mohinga House", slug=DEMO_SLUG, currency="MMK",
                                                locales=["en", "my"], timezone_name="Asia/Yangon")
                password = secrets.token_urlsafe(12)
                accounts.create_manager(tenant_id=tenant.id, username=MANAGER_USERNAME, password=password)
                issued = accounts.create_terminal(tenant_id=tenant.id, name="Counter 1", role="cashier")
            created = True
            steps.append(f"tenant {tenant.name!r} [{DEMO_SLUG}] created")

        for label, seed in self.module_seeds():
            self.stdout.write(f"  seeding {label} ...")
            steps.append(f"{label}: {seed(tenant.id)}")

        self.stdout.write(self.style.SUCCESS("Demo restaurant ready:"))
        for step in steps:
            self.stdout.write(f"  - {step}")
        if created:
            self.stdout.write("Admin login (printed once, keep it): "
                              f"username {MANAGER_USERNAME!r} password {password!r} at {admin_url}")
            self.stdout.write(f"Terminal 'Counter 1' token (printed once): {issued.token}")
        else:
            self.stdout.write(f"Credentials were printed when the demo was first created. Reset the password with "
                              f"`manage.py changepassword {MANAGER_USERNAME}`; get a new token with "
                              f"`manage.py create_terminal --tenant {DEMO_SLUG} --name 'Counter 2'`.")

    def module_seeds(self) -> list:
        """Each module's idempotent demo seed, through its api. Returns (label, fn(tenant_id) -> summary)."""
        return [
            ("catalog", lambda tenant_id: inventory.seed_demo_catalog(tenant_id=tenant_id)),
            # after the catalog: the menus are built from it
            ("tables and menus", lambda tenant_id: restaurant.seed_demo_restaurant(tenant_id=tenant_id)),
        ]
