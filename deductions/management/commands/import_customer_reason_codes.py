"""`manage.py import_customer_reason_codes --tenant SLUG FILE.csv`: a customer's own deduction codes mapped onto
the tenant's (header customer_id,customer_code,reason_code,description); a file with a bad row is refused whole."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from deductions.services import customer_reason_codes_import
from o2c.errors import ApplicationError
from o2c.services.tenants import tenant_by_slug
from o2c.tenancy import RequestOrigin, origin_context, tenant_context


class Command(BaseCommand):
    help = "Import customer reason code mappings from CSV."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True)
        parser.add_argument("file", type=Path)

    def handle(self, *args, tenant, file, **options):
        try:
            tenant_obj = tenant_by_slug(tenant)
            data = file.read_bytes()
        except ApplicationError as exc:
            raise CommandError(exc.message)
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}")
        try:
            with origin_context(RequestOrigin(channel="command")), tenant_context(tenant_obj):
                n = customer_reason_codes_import(data=data, actor=None)
        except ApplicationError as exc:
            raise CommandError("\n".join(exc.extra.get("errors", [exc.message])))
        self.stdout.write(f"{n} customer codes imported")
