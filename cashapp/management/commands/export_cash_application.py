"""`manage.py export_cash_application --tenant SLUG --out FILE.csv` (columns: see cashapp.exports)."""

from cashapp.exports import cash_application_export
from o2c.management.csv_export import TenantCsvExportCommand


class Command(TenantCsvExportCommand):
    help = "Write the tenant's cash application (applied, suggested, unapplied) as CSV."

    def write(self, stream) -> int:
        return cash_application_export(stream)
