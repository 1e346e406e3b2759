"""`manage.py export_deductions --tenant SLUG --out FILE.csv`: one row per deduction (a contract, keep exactly):
payment_reference,invoice_number,amount,reason,status,source."""

import csv
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from deductions.selectors import EXPORT_HEADER, export_rows
from o2c.errors import ApplicationError
from o2c.services.tenants import tenant_by_slug
from o2c.tenancy import tenant_context


class Command(BaseCommand):
    help = "Write the tenant's deductions as CSV."

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write ('-' for stdout)")

    def handle(self, *args, tenant, out, **options):
        out = Path(out)
        try:
            tenant_obj = tenant_by_slug(tenant)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        with tenant_context(tenant_obj):
            if str(out) == "-":
                n = self._write(self.stdout)
                return
            tmp = out.with_name(out.name + ".part")
            try:
                with tmp.open("w", newline="") as stream:
                    n = self._write(stream)
            except OSError as exc:
                raise CommandError(f"cannot write {out}: {exc.strerror}")
            tmp.replace(out)  # a reader never sees half a file
        self.stderr.write(f"{n} rows written to {out}")

    def _write(self, stream) -> int:
        writer = csv.writer(stream)
        writer.writerow(EXPORT_HEADER)
        n = 0
        for row in export_rows():
            writer.writerow(row)
            n += 1
        return n
