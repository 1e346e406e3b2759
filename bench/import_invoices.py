"""Import an ERP invoice CSV of a million rows (5,000 customers) through the same service as the command
and the upload, as the app role with RLS on; then the same file again (nothing changes).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/import_invoices.py \
        [--rows 1000000] [--customers 5000] [--db o2c_bench_invoices]

Target: 1M rows in 10 s. It first times Postgres's own COPY of the same CSV (the floor) and gives each
run as a multiple of it, which moves less than the wall time on a shared box.

Besides the wall time it prints the CPU seconds of the Postgres backend (read from /proc, so only when
the server runs on this machine) and of this process: on a shared two-core box the wall time moves
with whatever else runs, the CPU seconds much less.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, machine_speed, setup_django  # noqa: E402

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


def backend_cpu_seconds() -> float | None:
    """CPU time of this thread's Postgres backend, or None when the server is not on this machine."""
    from django.db import connection

    connection.ensure_connection()
    try:
        with open(f"/proc/{connection.connection.info.backend_pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def copy_baseline(data: bytes) -> float:
    """Seconds for Postgres alone to COPY the CSV (parsing dates and numbers) into a bare temporary table: the
    floor the import is compared with."""
    from django.db import transaction

    with transaction.atomic(using="owner"):
        conn = transaction.get_connection("owner").connection
        with conn.cursor() as cur:
            cur.execute("CREATE TEMPORARY TABLE _copy_baseline (invoice_number text, customer_id text, "
                        "customer_name text, issue_date date, due_date date, amount numeric, currency text, "
                        "po_number text, discount_percent numeric, discount_due_date date) ON COMMIT DROP")
            started = time.perf_counter()
            with cur.copy("COPY _copy_baseline FROM STDIN (FORMAT csv, HEADER true)") as copy:
                copy.write(data)
            return time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--db", default="o2c_bench_invoices")
    args = p.parse_args()
    print(machine_speed())
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    from o2c.models import Tenant
    from o2c.services.invoice_import import invoice_import_csv
    from o2c.tenancy import tenant_context

    tenant = Tenant.objects.using("owner").create(slug=f"bench-inv-{int(time.time())}", name="Bench invoices")
    data = csv_bytes(args.rows, args.customers)
    print(f"{args.rows:,} rows, {len(data) / 1e6:.1f} MB")
    copy_seconds = copy_baseline(data)
    print(f"  {'COPY baseline':16} {copy_seconds:6.1f} s  (Postgres COPY of the same CSV into a temporary table "
          "of the columns' types: no checks, indexes or customers)")
    for what in ("new file", "same file again"):
        started, py_started, pg_started = time.perf_counter(), time.process_time(), backend_cpu_seconds()
        with tenant_context(tenant):
            batch = invoice_import_csv(data=data, file_name="invoices.csv")
        elapsed, py_cpu = time.perf_counter() - started, time.process_time() - py_started
        pg_ended = backend_cpu_seconds()
        pg_cpu = f"postgres {pg_ended - pg_started:.1f} s, " if pg_started is not None and pg_ended is not None else ""
        print(f"  {what:16} {elapsed:6.1f} s  ({elapsed / copy_seconds:.1f}x COPY, {args.rows / elapsed:,.0f} rows/s): "
              f"{batch.created_invoices:,} created, "
              f"{batch.updated_invoices:,} updated, {batch.created_customers:,} customers created "
              f"[CPU: {pg_cpu}python {py_cpu:.1f} s]")


if __name__ == "__main__":
    main()
