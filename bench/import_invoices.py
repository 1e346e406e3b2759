"""Import an ERP invoice CSV of a million rows (5,000 customers) through the same service as the command
and the upload, as the app role with RLS on; then the same file again (nothing changes).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/import_invoices.py \
        [--rows 1000000] [--customers 5000] [--db o2c_bench_invoices]

Target: 1M rows in 30 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, setup_django  # noqa: E402

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date\n")


def csv_bytes(rows: int, customers: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    start = date(2026, 1, 1)
    out = [HEADER]
    for i in range(rows):
        c = rnd.randrange(customers)
        issue = start + timedelta(days=rnd.randrange(300))
        discount = c % 5 == 0
        po = f"PO-{rnd.randrange(10**6):06d}" if i % 2 else ""
        out.append(f"INV-{i:07d},C{c:05d},Customer {c:05d} Ltd,{issue},{issue + timedelta(days=30)},"
                   f"{rnd.randrange(1000, 5_000_000) / 100:.2f},USD,{po},"
                   f"{'2.00' if discount else ''},{issue + timedelta(days=10) if discount else ''}\n")
    return "".join(out).encode()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--db", default="o2c_bench_invoices")
    args = p.parse_args()
    ensure_database(args.db)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    from o2c.models import Tenant
    from o2c.services.invoice_import import invoice_import_csv
    from o2c.tenancy import tenant_context

    tenant = Tenant.objects.using("owner").create(slug=f"bench-inv-{int(time.time())}", name="Bench invoices")
    data = csv_bytes(args.rows, args.customers)
    print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB")
    for what in ("new file", "same file again"):
        started = time.perf_counter()
        with tenant_context(tenant):
            batch = invoice_import_csv(data=data, file_name="invoices.csv")
        elapsed = time.perf_counter() - started
        print(f"  {what:16} {elapsed:6.1f} s  ({args.rows / elapsed:,.0f} rows/s): {batch.created_invoices:,} created, "
              f"{batch.updated_invoices:,} updated, {batch.created_customers:,} customers created")


if __name__ == "__main__":
    main()
