"""The one shape of every `export_*` command: a tenant's rows as CSV to `--out`, or to stdout with `-`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from ..errors import ApplicationError
from ..services.tenants import tenant_by_slug
from ..tenancy import tenant_context


class TenantCsvExportCommand(BaseCommand):
    """Subclasses implement `write(stream) -> rows written` with `o2c.spreadsheets.write_csv` (formula
    injection escaped); the file appears whole or not at all."""

    def add_arguments(self, parser):
        parser.add_argument("--tenant", required=True, help="tenant slug")
        parser.add_argument("--out", required=True, type=Path, help="CSV file to write ('-' for stdout)")

    def write(self, stream) -> int:
        raise NotImplementedError

    def handle(self, *args, tenant, out, **options):
        out = Path(out)
        try:
            tenant_obj = tenant_by_slug(tenant)
        except ApplicationError as exc:
            raise CommandError(exc.message)
        with tenant_context(tenant_obj):
            if str(out) == "-":
                self.write(self.stdout)
                return
            tmp = out.with_name(out.name + ".part")
            try:
                with tmp.open("w", newline="") as stream:
                    n = self.write(stream)
            except OSError as exc:
                raise CommandError(f"cannot write {out}: {exc.strerror}")
            tmp.replace(out)  # a reader never sees half a file
        self.stderr.write(f"{n} rows written to {out}")
