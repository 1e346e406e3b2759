"""`manage.py import_invoices --tenant SLUG FILE.csv`: the ERP's open invoices, all or nothing."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from o2c.errors import ApplicationError
from o2c.services.invoice_import import InvoiceFileError, invoice_import_csv
from o2c.services.tenants import tenant_by_slug
from o2c.services.uploads import failures_refused
from o2c.tenancy import RequestOrigin, origin_context, tenant_context


class Command(BaseCommand):
    help = ("Import invoices from a CSV with the header invoice_number,customer_id,customer_name,issue_date,"
            "due_date,amount,currency,po_number,discount_percent,discount_due_date. Re-importing changes nothing; "
            "any bad row refuses the whole file.")

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("file", type=Path)

    def handle(self, *args, tenant, file, **options):
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise CommandError(f"cannot read {file}: {exc.strerror}")
        try:
            tenant_obj = tenant_by_slug(tenant)
            with (origin_context(RequestOrigin(channel="command")), tenant_context(tenant_obj),
                  failures_refused("The invoice import", tenant=tenant_obj.pk)):
                batch = invoice_import_csv(data=data, file_name=file.name)
        except InvoiceFileError as exc:
            raise CommandError("\n".join([exc.message, *exc.errors]))
        except ApplicationError as exc:
            raise CommandError(exc.message)
        self.stdout.write(self.style.SUCCESS(
            f"{file.name} into {tenant_obj.slug}: {batch.rows} rows; {batch.created_invoices} invoices created, "
            f"{batch.updated_invoices} updated, {batch.unchanged_invoices} unchanged; "
            f"{batch.created_customers} customers created"
        ))
