"""`manage.py export_deductions --tenant SLUG --out FILE.csv`: one row per deduction (a contract, keep exactly):
payment_reference,invoice_number,amount,reason,status,source."""

import csv

from deductions.selectors import EXPORT_HEADER, export_rows
from o2c.management.csv_export import TenantCsvExportCommand


class Command(TenantCsvExportCommand):
    help = "Write the tenant's deductions as CSV."

    def write(self, stream) -> int:
        writer = csv.writer(stream)
        writer.writerow(EXPORT_HEADER)
        n = 0
        for row in export_rows():
            writer.writerow(row)
            n += 1
        return n
