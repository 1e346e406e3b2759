"""`manage.py export_deductions --tenant SLUG --out FILE.csv`: one row per deduction (a contract, keep exactly):
payment_reference,invoice_number,amount,reason,status,source."""

from deductions.selectors import EXPORT_HEADER, export_rows
from o2c.management.csv_export import TenantCsvExportCommand
from o2c.spreadsheets import write_csv


class Command(TenantCsvExportCommand):
    help = "Write the tenant's deductions as CSV."

    def write(self, stream) -> int:
        return write_csv(stream, EXPORT_HEADER, export_rows())
