"""`manage.py seed_demo [--if-empty] [--customers N --invoices M]`: the demo tenants, data and users."""

import time

from django.conf import settings
from django.core.management.base import BaseCommand

from o2c.services.demo import DemoResult, demo_is_empty, demo_seed, demo_users
from o2c.tenancy import RequestOrigin, origin_context


class Command(BaseCommand):
    help = "Seed two demo tenants with customers, invoices in every aging bucket and a user of every role."

    def add_arguments(self, parser):
        parser.add_argument("--if-empty", action="store_true", help="do nothing when any tenant exists")
        parser.add_argument("--customers", type=int, default=300, help="customers of the first tenant (default 300)")
        parser.add_argument("--invoices", type=int, default=3000, help="invoices of the first tenant (default 3000)")

    def handle(self, *args, if_empty, customers, invoices, **options):
        if if_empty and not demo_is_empty():
            self.stdout.write("Database already has tenants: demo seed skipped.")
            self._credentials(DemoResult(users=demo_users()))
            return
        started = time.monotonic()
        with origin_context(RequestOrigin(channel="command")):
            result = demo_seed(customers=customers, invoices=invoices)
        for slug in result.seeded:
            counts = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in result.counts[slug].items())
            self.stdout.write(self.style.SUCCESS(f"Seeded {slug}: {counts}"))
        for slug in result.skipped:
            self.stdout.write(f"Tenant {slug} already exists: left as it is.")
        if result.seeded:
            self.stdout.write(f"({time.monotonic() - started:.1f}s)")
        self._credentials(result)

    def _credentials(self, result):
        if not result.users:
            return
        width = max(len(u.email) for u in result.users)
        self.stdout.write("")
        self.stdout.write(f"Demo users (password for all: {result.password})   {settings.O2C_BASE_URL}/")
        self.stdout.write(f"  {'tenant':<8} {'email':<{width}}  {'role':<26} note")
        for user in result.users:
            self.stdout.write(f"  {user.tenant:<8} {user.email:<{width}}  {user.role:<26} {user.note}")
        self.stdout.write("Staff roles enrol a TOTP authenticator on first sign-in (the page shows a QR code and the "
                          "secret); `python manage.py totp_code --email E` prints the current code for demos.")
