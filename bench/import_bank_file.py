"""Import a 100k-entry BAI2, camt.053 and MT940 file into Postgres, as the app role with RLS on.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/import_bank_file.py \
        [--entries 100000] [--db o2c_bench_import] [--formats BAI2,camt.053,MT940]

Times `bank_file_import` end to end (hash, parse, statements, COPY of payments and remittance lines, advice
linking, audit) for a new file, the same bytes again (recognised by hash), and the same entries under
another file header (every entry skipped as a duplicate by the unique key). Target: 100k entries in 3 s.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, machine_speed, setup_django  # noqa: E402
from bench.parse_bank_file import bai2_file, camt_file, mt940_file  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--entries", type=int, default=100_000)
    p.add_argument("--db", default="o2c_bench_import")
    p.add_argument("--formats", default="BAI2,camt.053,MT940", help="comma-separated subset to run")
    args = p.parse_args()
    print(machine_speed())
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    from cashapp.models import CashAppSettings
    from o2c.models import Tenant
    from o2c.tenancy import tenant_context
    from payments.services import bank_file_import

    stamp = int(time.time())
    tenant = Tenant.objects.using("owner").create(slug=f"bench-import-{stamp}", name="Bench import")
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)  # the import alone is timed here
    makers = {"BAI2": bai2_file, "camt.053": camt_file, "MT940": mt940_file}
    for label in args.formats.split(","):
        make = makers[label]
        data = make(args.entries, random.Random(7))
        runs = [("new file", data, f"{label}.dat"),
                ("same bytes again", data, f"{label}-again.dat"),
                ("same entries, other header", data.replace(b"BENCH", b"BENCX", 2) if label != "BAI2"
                 else data.replace(b"01,BANKUS33,O2C,250102,0600,1,", b"01,BANKUS33,O2C,250102,0601,2,", 1),
                 f"{label}-other.dat")]
        for what, payload, name in runs:
            started = time.perf_counter()
            with tenant_context(tenant):
                bank_file = bank_file_import(data=payload, file_name=name)
            elapsed = time.perf_counter() - started
            print(f"{label:9} {what:28} {len(payload) / 1e6:6.1f} MB  {elapsed:6.2f} s  "
                  f"created {bank_file.payments_created:>7,}  duplicates {bank_file.duplicates_skipped:>7,}"
                  f"{'  (recognised by hash)' if bank_file.duplicate else ''}")


if __name__ == "__main__":
    main()
