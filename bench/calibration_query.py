"""Time the calibration query of the cash-application settings page on a tenant with many decisions.

    python bench/calibration_query.py [--payments 1000000] [--db o2c_bench_calibration] [--runs 5]

Loads (once; reused while the count matches) a tenant whose payments each have an automatic or confirmed
posting (a tenth split over two invoices, 3 % reversed) and a fifth of them a rejected or accepted
suggestion, with SQL as the owner; a second tenant gets a tenth of that, so row-level security has rows
to hide. Then runs `cashapp.selectors.decision_confidence_counts` as the app role inside
`tenant_context` (RLS on), prints the median of several runs and the plan (EXPLAIN ANALYZE, BUFFERS).
The journal is append-only, so a smaller reload needs a fresh database (--fresh).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, machine_speed, median_ms, setup_django  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--payments", type=int, default=1_000_000)
    p.add_argument("--db", default="o2c_bench_calibration")
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--fresh", action="store_true", help="drop the database first")
    return p.parse_args()


def load(tenant, n: int) -> None:
    """One template payment and invoice through the real services; the rest cloned from them in SQL."""
    from django.db import connections

    from cashapp.models import CashAppSettings
    from o2c.tenancy import tenant_context
    from payments.models import Payment
    from tests.cashapp_support import Credit, import_credits
    from tests.factories import InvoiceFactory

    with tenant_context(tenant):
        if Payment.objects.filter(bank_reference__startswith="CAL-").count() == n:
            return
        CashAppSettings.objects.get_or_create(defaults={"match_after_import": False})
        import_credits([Credit(f"TEMPLATE-{time.time_ns()}", "100.00", payer="Template")])
        template = Payment.objects.latest("pk")
        invoice = InvoiceFactory(amount="100.00")
    started = time.perf_counter()
    with connections["owner"].cursor() as cur:
        t = tenant.pk
        cur.execute(
            "INSERT INTO payments_payment (tenant_id, bank_reference, account, amount, currency, value_date, "
            "booking_date, channel, bank_code, payer_name, payer_account, end_to_end_id, remittance_text, raw, "
            "source_line, unapplied_amount, status, created_at, bank_file_id) "
            "SELECT tenant_id, 'CAL-' || g, account, amount, currency, value_date, booking_date, channel, bank_code, "
            "payer_name, payer_account, end_to_end_id, '', '', '', 0, 'applied', now(), bank_file_id "
            "FROM payments_payment p, generate_series(1, %s) g WHERE p.tenant_id = %s AND p.id = %s",
            [n, t, template.pk])
        # Confidence skewed towards 1 (as the matcher's), one posting per payment, a tenth over two rows.
        cur.execute(
            "INSERT INTO cashapp_application (tenant_id, payment_id, invoice_id, customer_id, applied_amount, "
            "discount_amount, deduction_amount, write_off_amount, source, confidence, explanation, created_at) "
            "SELECT p.tenant_id, p.id, %s, %s, 50, 0, 0, 0, CASE WHEN p.id %% 7 = 0 THEN 'confirmed' ELSE 'auto' END, "
            "round((1 - 0.5 * random() ^ 2)::numeric, 3), '', now() "
            "FROM payments_payment p CROSS JOIN generate_series(1, 2) k "
            "WHERE p.tenant_id = %s AND p.bank_reference LIKE 'CAL-%%' AND (k = 1 OR p.id %% 10 = 0)",
            [invoice.pk, invoice.customer_id, t])
        cur.execute(
            "INSERT INTO cashapp_application (tenant_id, payment_id, invoice_id, customer_id, applied_amount, "
            "discount_amount, deduction_amount, write_off_amount, source, confidence, explanation, created_at, "
            "reverses_id) SELECT tenant_id, payment_id, invoice_id, customer_id, -applied_amount, 0, 0, 0, source, "
            "confidence, 'reversed', now(), id FROM cashapp_application "
            "WHERE tenant_id = %s AND reverses_id IS NULL AND random() < 0.03", [t])
        cur.execute(
            "INSERT INTO cashapp_suggestion (tenant_id, payment_id, rank, confidence, explanation, allocations, "
            "on_account, status, created_at) SELECT p.tenant_id, p.id, 1, round((0.4 + 0.5 * random())::numeric, 3), "
            "'', '[]', 0, CASE WHEN random() < 0.5 THEN 'rejected' ELSE 'accepted' END, now() "
            "FROM payments_payment p WHERE p.tenant_id = %s AND p.bank_reference LIKE 'CAL-%%' AND p.id %% 5 = 0",
            [t])
        for table in ("payments_payment", "cashapp_application", "cashapp_suggestion"):
            cur.execute(f"VACUUM ANALYZE {table}")  # and the visibility map, as autovacuum would
    print(f"loaded {n:,} payments with their decisions for tenant {tenant.pk} in {time.perf_counter() - started:.1f} s")


def main():
    args = parse_args()
    print(machine_speed())
    ensure_database(args.db, fresh=args.fresh)
    setup_django(args.db)
    from django.core.management import call_command
    from django.db import connection, connections

    from cashapp import selectors
    from cashapp.calibration import calibration_from_counts
    from o2c.models import Tenant
    from o2c.tenancy import tenant_context

    call_command("migrate", verbosity=0)
    tenant = Tenant.objects.using("owner").get_or_create(slug="calibration", defaults={"name": "Calibration"})[0]
    noise = Tenant.objects.using("owner").get_or_create(slug="calibration-noise", defaults={"name": "Noise"})[0]
    load(tenant, args.payments)
    load(noise, max(args.payments // 10, 1))
    connections["owner"].close()
    with tenant_context(tenant):
        ms = median_ms(selectors.decision_confidence_counts, args.runs)
        calibration = calibration_from_counts(selectors.decision_confidence_counts())
        with connection.cursor() as cur:
            cur.execute("SET LOCAL jit = off")
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + selectors._DECISION_COUNTS,
                        {"tenant": tenant.pk, "window": selectors.CALIBRATION_WINDOW})
            plan = "\n".join(r[0] for r in cur.fetchall())
    print(f"decision_confidence_counts: {calibration.decisions:,} verdicts, median {ms:.0f} ms of {args.runs} runs")
    print(plan)


if __name__ == "__main__":
    main()
