"""`manage.py create_tenant SLUG --name NAME [--currency EUR]`"""

from django.core.management.base import BaseCommand, CommandError

from o2c.errors import ApplicationError
from o2c.services.tenants import tenant_create


class Command(BaseCommand):
    help = "Create a tenant (a company using o2c)."

    def add_arguments(self, parser):
        parser.add_argument("slug", help="short lowercase id used in URLs and commands, e.g. acme")
        parser.add_argument("--name", required=True, help="display name")
        parser.add_argument("--currency", default="USD", help="base currency, ISO 4217 (default USD)")

    def handle(self, *args, slug, name, currency, **options):
        try:
            tenant = tenant_create(slug=slug, name=name, base_currency=currency)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(self.style.SUCCESS(f"Created tenant {tenant.slug} ({tenant.name}, {tenant.base_currency})"))
