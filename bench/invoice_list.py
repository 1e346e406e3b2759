"""Benchmark the invoice and customer list pages at a million invoices.

    python bench/invoice_list.py [--invoices 1000000] [--customers 5000] [--db o2c_bench] [--runs 9] [--reload]

Uses its own database (default `o2c_bench`) on the server of DATABASE_URL: creates and migrates it as
the owner, loads invoices with COPY (once; reused while the counts match), ANALYZEs, then times the
pages' queries as the unprivileged app role inside `tenant_context`, so row-level security is on, as
in production. Prints the median of several runs per query, the index the plan uses, and the
whole Django view (middleware, template) through the test client.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import time
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TENANT_SLUG = "bench"
NOISE_SLUG = "bench-noise"  # a second tenant so row-level security has rows to hide


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--noise-invoices", type=int, default=50_000, help="invoices of a second tenant")
    p.add_argument("--db", default="o2c_bench")
    p.add_argument("--runs", type=int, default=9)
    p.add_argument("--reload", action="store_true", help="drop and reload the data even if it is there")
    return p.parse_args()


def ensure_database(name: str, fresh: bool = False) -> None:
    """Create the bench database if missing; `fresh` drops it first, so that a run does not inherit the
    previous run's bloat (a reloaded million-row table with its indexes twice the size ran 25% slower)."""
    import psycopg

    url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c")
    parts = urlsplit(url)
    admin_url = urlunsplit((parts.scheme, parts.netloc, "/postgres", parts.query, ""))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}")


def machine_speed() -> str:
    """A fixed pure-Python loop, timed: the box's speed drifts by a third from hour to hour (shared host),
    so each benchmark prints this next to its figures (0.6-1.8 s seen)."""
    started = time.perf_counter()
    total = 0
    for i in range(20_000_000):
        total += i
    return (f"machine speed: reference loop {time.perf_counter() - started:.2f} s "
            "(lower is faster; 0.6-1.8 s seen on this box)")


def setup_django(db: str) -> None:
    os.environ["O2C_DB_NAME"] = db
    os.environ.setdefault("O2C_DEBUG", "0")  # no per-query bookkeeping, as in production
    os.environ.setdefault("O2C_SECURE_COOKIES", "0")
    os.environ.setdefault("O2C_SSL_REDIRECT", "0")  # the test client speaks plain http
    os.environ.setdefault("O2C_SECRET_KEY", "bench-only-not-secret-" + "b" * 40)
    os.environ.setdefault("O2C_LOG_LEVEL", "WARNING")
    os.environ.setdefault("O2C_FAST_PASSWORD_HASHER", "1")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")
    import django

    django.setup()


# --- loading ------------------------------------------------------------------------------------

def _tenant(slug: str, name: str):
    from o2c.models import Tenant

    return Tenant.objects.using("owner").get_or_create(slug=slug, defaults={"name": name})[0]


def _count(cursor, table: str, tenant_id: int) -> int:
    cursor.execute(f"SELECT count(*) FROM {table} WHERE tenant_id = %s", [tenant_id])
    return cursor.fetchone()[0]


def load(tenant_id: int, n_invoices: int, n_customers: int, *, reload: bool, seed: int = 7) -> bool:
    """COPY customers and invoices for the tenant as the owner. Returns False when the data was already there."""
    from django.db import connections

    conn = connections["owner"]
    with conn.cursor() as cur:
        if not reload and _count(cur, "o2c_invoice", tenant_id) == n_invoices \
                and _count(cur, "o2c_customer", tenant_id) == n_customers:
            return False
        for table in ("o2c_invoice", "o2c_customer"):
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])
    rnd = random.Random(seed + tenant_id)
    today = date.today()
    now = "2026-01-01 00:00:00+00"
    started = time.perf_counter()
    conn.ensure_connection()
    raw = conn.connection  # psycopg 3 connection underneath Django's (autocommit: each COPY commits)
    with raw.cursor() as cur:
        with cur.copy("COPY o2c_customer (tenant_id, external_id, name, payment_terms, credit_limit, currency, "
                      "is_active, created_at, updated_at) FROM STDIN") as copy:
            for i in range(n_customers):
                limit = None if i % 3 else rnd.randrange(10, 500) * 1000
                terms = "2/10 net 30" if i % 5 == 0 else "net 30"
                copy.write_row((tenant_id, f"CUST-{i:06d}", f"{_company(rnd)} {i:05d}", terms, limit,
                                "USD", True, now, now))
        cur.execute("SELECT id FROM o2c_customer WHERE tenant_id = %s ORDER BY id", [tenant_id])
        customer_ids = [r[0] for r in cur.fetchall()]
        with cur.copy("COPY o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, currency, "
                      "open_balance, po_number, discount_percent, discount_due_date, status, created_at, updated_at) "
                      "FROM STDIN") as copy:
            for i in range(n_invoices):
                due = today - timedelta(days=rnd.randrange(-60, 730))
                issue = due - timedelta(days=30)
                amount = Decimal(rnd.randrange(5_000, 5_000_000)) / 100
                r = rnd.random()
                # Older invoices are mostly paid, as in a real ledger.
                paid_share = 0.9 if (today - due).days > 120 else 0.35
                if r < paid_share:
                    status, open_balance = "paid", Decimal("0")
                elif r < paid_share + 0.03:
                    status, open_balance = "void", Decimal("0")
                elif r < paid_share + 0.10:
                    status, open_balance = "partially_paid", (amount / 2).quantize(Decimal("0.01"))
                else:
                    status, open_balance = "open", amount
                c = rnd.random()
                currency = "USD" if c < 0.9 else ("EUR" if c < 0.97 else "GBP")
                po = f"PO-{rnd.randrange(1_000_000):06d}" if rnd.random() < 0.7 else ""
                copy.write_row((tenant_id, f"INV-{i:08d}", customer_ids[rnd.randrange(len(customer_ids))], issue,
                                due, amount, currency, open_balance, po, 0, None, status, now, now))
    with conn.cursor() as cur:
        cur.execute("ANALYZE o2c_customer")
        cur.execute("ANALYZE o2c_invoice")
    print(f"loaded {n_invoices:,} invoices and {n_customers:,} customers for tenant {tenant_id} "
          f"in {time.perf_counter() - started:.1f} s")
    return True


_WORDS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent", "Tyrell",
          "Wonka", "Cyberdyne", "Gringotts", "Oscorp", "Massive", "Dynamic", "Northern", "Pacific", "Atlas"]
_KINDS = ["Retail", "Foods", "Hardware", "Logistics", "Industries", "Supply", "Pharma", "Motors", "Textiles"]


def _company(rnd) -> str:
    return f"{rnd.choice(_WORDS)} {rnd.choice(_KINDS)}"


# --- timing -------------------------------------------------------------------------------------

def median_ms(fn, runs: int) -> float:
    fn()  # warm the plan and the buffer cache once
    samples = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def plan_summary(qs) -> str:
    """The indexes (or sequential scans) the plan uses, in one line."""
    plan = qs.explain()
    found = re.findall(r"((?:Index Only Scan|Index Scan|Bitmap Index Scan)(?: Backward)?)(?: using| on) (\w+)"
                       r"|(Seq Scan) on (\w+)", plan)
    parts = []
    for kind, index, seq, table in found:
        item = f"{kind} {index}" if kind else f"{seq} {table}"
        if item not in parts:
            parts.append(item)
    if "Sort" in plan and "Incremental Sort" not in plan and "Sort Key" in plan:
        parts.append("+Sort")
    return ", ".join(parts)


def main():
    args = parse_args()
    print(machine_speed())
    ensure_database(args.db)
    setup_django(args.db)
    from django.core.management import call_command
    from django.db import connections
    from django.test import Client

    call_command("migrate", verbosity=0)
    tenant = _tenant(TENANT_SLUG, "Bench Industries")
    noise = _tenant(NOISE_SLUG, "Noise Corp")
    load(tenant.pk, args.invoices, args.customers, reload=args.reload)
    load(noise.pk, args.noise_invoices, max(args.noise_invoices // 200, 1), reload=args.reload)
    connections["owner"].close()

    from o2c.access import customer_scope, invoice_scope
    from o2c.models import Customer, Invoice, Membership, Role
    from o2c.selectors import customer_page, invoice_filter, invoice_page
    from o2c.services.tenants import user_create
    from o2c.tenancy import tenant_context

    email = "bench-clerk@bench.test"
    with tenant_context(tenant):
        membership = Membership.objects.filter(user__email=email).select_related("tenant").first()
        if membership is None:
            user_create(email=email, role=Role.AR_CLERK, password="bench-password-123", check_password=False)
            membership = Membership.objects.select_related("tenant").get(user__email=email)
        # Positions for a deep page and a single customer, picked once outside the timings.
        total = Invoice.objects.count()
        deep = Invoice.objects.order_by("due_date", "id").values_list("due_date", "id")[int(total * 0.9)]
        deep_cursor = f"{deep[0].isoformat()}_{deep[1]}"
        some_customer = Customer.objects.order_by("id").values_list("id", flat=True)[args.customers // 2]
        customer_after = Customer.objects.order_by("name", "id").values_list("id", flat=True)[args.customers // 2]

    today = date.today()
    scenarios = [
        ("invoices: first page", {}, None),
        ("invoices: deep page (90% in, cursor)", {}, deep_cursor),
        ("invoices: status=outstanding", {"status": "outstanding"}, None),
        ("invoices: status=paid, deep", {"status": "paid"}, deep_cursor),
        ("invoices: bucket 31-60", {"bucket": "31_60"}, None),
        ("invoices: bucket 90+", {"bucket": "90_plus"}, None),
        ("invoices: one customer", {"customer_id": some_customer}, None),
        ("invoices: number prefix INV-0042", {"search": "INV-0042"}, None),
        ("invoices: one number INV-00421234", {"search": "INV-00421234"}, None),
        ("invoices: exact PO", {"search": "PO-123456"}, None),
        ("invoices: due range 30 days", {"due_from": today - timedelta(days=200),
                                         "due_to": today - timedelta(days=170)}, None),
        ("invoices: currency GBP", {"currency": "GBP"}, None),
        ("invoices: outstanding+EUR+bucket 1-30", {"status": "outstanding", "currency": "EUR", "bucket": "1_30"},
         None),
    ]
    rows = []
    with tenant_context(tenant):
        base = invoice_scope(membership).select_related("customer")
        for label, filters, cursor in scenarios:
            qs = invoice_filter(base, **filters)
            ms = median_ms(lambda qs=qs, cursor=cursor: invoice_page(qs, cursor=cursor), args.runs)
            ordered = qs.order_by("due_date", "id")
            if cursor:
                d, i = cursor.split("_")
                from django.db.models import Q

                ordered = ordered.filter(Q(due_date__gt=d) | Q(due_date=d, id__gt=int(i)))
            rows.append((label, ms, plan_summary(ordered[:51])))
        customers = customer_scope(membership)
        for label, kwargs in [("customers: first page with balances", {}),
                              ("customers: middle page (cursor)", {"cursor": str(customer_after)}),
                              ("customers: search 'wonka'", {"search": "wonka"})]:
            ms = median_ms(lambda kwargs=kwargs: customer_page(customers, **kwargs), args.runs)
            rows.append((label, ms, ""))
        from o2c.selectors import aging, customer_overview

        one = Customer.objects.get(pk=some_customer)
        rows.append(("customer page: overview + aging", median_ms(
            lambda: customer_overview(one, invoice_scope(membership).filter(customer=one)), args.runs), ""))
        rows.append(("dashboard: tenant-wide aging (1 aggregate)", median_ms(
            lambda: aging(invoice_scope(membership)), max(3, args.runs // 3)), ""))

    # The whole view: middleware (session, MFA, tenant scope, RLS), selectors, template.
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from o2c.models import User

    user = User.objects.get(email=email)
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first() or TOTPDevice.objects.create(
        user=user, name="bench", confirmed=True)
    client = Client()
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()

    def view(url):
        def get():
            response = client.get(url)
            assert response.status_code == 200, (url, response.status_code)
        return get

    for label, url in [
        ("VIEW /invoices/", "/invoices/"),
        ("VIEW /invoices/?after=<deep>", f"/invoices/?after={deep_cursor}"),
        ("VIEW /invoices/?status=outstanding&bucket=31_60", "/invoices/?status=outstanding&bucket=31_60"),
        ("VIEW /invoices/ (htmx partial, q=INV-0042)", "/invoices/?q=INV-0042"),
        ("VIEW /customers/", "/customers/"),
        (f"VIEW /customers/{some_customer}/", f"/customers/{some_customer}/"),
        ("VIEW / (dashboard)", "/"),
    ]:
        rows.append((label, median_ms(view(url), max(3, args.runs // 2)), ""))

    width = max(len(r[0]) for r in rows)
    print(f"\n{args.invoices:,} invoices, {args.customers:,} customers (tenant {tenant.pk}); "
          f"median of {args.runs} runs, ms\n")
    print(f"{'page / query'.ljust(width)}  {'ms':>8}  plan")
    print(f"{'-' * width}  {'-' * 8}  {'-' * 40}")
    for label, ms, plan in rows:
        print(f"{label.ljust(width)}  {ms:8.1f}  {plan}")


if __name__ == "__main__":
    main()
