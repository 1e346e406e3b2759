"""Cash application end to end on Postgres: 100k payments against 1M open invoices of 5k customers.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/cashapp_e2e.py \
        [--payments 100000] [--invoices 1000000] [--customers 5000] [--seed 2] [--db o2c_bench_cashapp]

The labelled data comes from `bench/cashapp_data.py` (the same generator as the pure matcher benchmark).
It is loaded with COPY as the owner (set-up, not timed), then a matching run is timed as the unprivileged
app role with row-level security on, exactly as the worker runs it: loading the index (customers, aliases,
accounts, a million open invoices), matching in chunks, posting applications and deductions, storing
suggestions and decisions. Prints the phases, the throughput, peak memory, and the accuracy measured
from what the database holds afterwards.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import sys
import time
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.invoice_list import ensure_database, machine_speed, setup_django  # noqa: E402

TENANT_SLUG = "bench-cashapp"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--payments", type=int, default=100_000)
    p.add_argument("--invoices", type=int, default=1_000_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--skew", nargs="?", type=float, const=0.8, default=None, metavar="ZIPF",
                   help="a skewed ledger: customer sizes Zipf(ZIPF, default 0.8: the largest of 5,000 customers holds "
                        "4.3 %% of the invoices, the top 50 28 %%) and payers drawn in proportion to their invoices")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--chunk", type=int, default=None, help="payments per chunk (default: the service's)")
    p.add_argument("--db", default="o2c_bench_cashapp")
    p.add_argument("--again", type=int, default=0, metavar="N",
                   help="then add N payments and run again, three times: with the index the worker kept "
                        "(refreshed from the rows changed since: by the big run, then by a small one) and with it "
                        "dropped (built from scratch), printing each run's set-up")
    p.add_argument("--phases", action="store_true",
                   help="also print where the time went (seconds summed per phase, across both threads)")
    return p.parse_args()


def time_phases():
    """Wrap the run's phases with timers (bench-only instrumentation; the service is unchanged)."""
    import functools
    from collections import Counter

    import cashapp.services.runs as services  # the run's phases are looked up in the module that calls them
    import o2c.ledger.posting as posting
    from cashapp.matching import MatchIndex

    totals: Counter = Counter()

    def wrap(module, name, label):
        original = getattr(module, name)

        @functools.wraps(original)
        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                totals[label] += time.perf_counter() - started
        setattr(module, name, timed)

    import cashapp.warm as warm

    for name, label in (("customer_records", "set-up: load customers"),
                        ("open_invoice_records", "set-up: load open invoices"),
                        ("_refresh", "set-up: refresh the kept index (all of it)")):
        wrap(warm, name, label)
    for name, label in (("_run_setup", "set-up (all of it)"),
                        ("payment_records", "matcher thread: load payments and remittance"),
                        ("match_payments", "matcher thread: match"),
                        ("_commit_chunk", "writer thread: commit chunks (all below)"),
                        ("post", "writer: post applications, deductions, balances"),
                        ("_record_matches", "writer: record decisions"),
                        ("_insert_suggestions", "writer: store suggestions"),
                        ("_remember_payers", "writer: note identified payers")):
        wrap(services, name, label)
    wrap(posting, "_write_balances", "writer: post: balances")
    # Every statement of the writer thread, by its opening words: where Postgres (and the round trip) goes.
    import re
    import threading

    import psycopg

    execute = psycopg.Cursor.execute
    statements: Counter = Counter()
    words = re.compile(r"\s+")

    def timed_execute(self, query, *args, **kwargs):
        started = time.perf_counter()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            if threading.current_thread().name.endswith("-writer"):
                text = query if isinstance(query, str) else str(query)
                statements[" ".join(words.split(text.strip())[:6])[:70]] += time.perf_counter() - started
    psycopg.Cursor.execute = timed_execute
    import contextlib

    copy, commit = psycopg.Cursor.copy, psycopg.Connection.commit

    @contextlib.contextmanager
    def timed_copy(self, statement, *args, **kwargs):
        started = time.perf_counter()
        try:
            with copy(self, statement, *args, **kwargs) as c:
                yield c
        finally:
            if threading.current_thread().name.endswith("-writer"):
                statements[" ".join(words.split(str(statement).strip())[:2])[:70]] += time.perf_counter() - started

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            if threading.current_thread().name.endswith("-writer"):
                statements["COMMIT"] += time.perf_counter() - started
    psycopg.Cursor.copy, psycopg.Connection.commit = timed_copy, timed_commit
    totals.statements = statements
    build = MatchIndex.build.__func__

    def timed_build(cls, customers, invoices):
        started = time.perf_counter()
        try:
            return build(cls, customers, invoices)
        finally:
            totals["set-up: build index"] += time.perf_counter() - started
    MatchIndex.build = classmethod(timed_build)

    # Time in the cyclic garbage collector, by generation: noise-proof where wall times are not.
    collecting: dict[int, float] = {}

    def gc_timer(phase, info):
        generation = info["generation"]
        if phase == "start":
            collecting[generation] = time.perf_counter()
        elif generation in collecting:
            totals[f"cyclic GC, generation {generation} ({{n}} collections)"] += (
                time.perf_counter() - collecting.pop(generation))
            counts[generation] += 1
    counts: Counter = Counter()
    gc.callbacks.append(gc_timer)
    totals.gc_counts = counts
    return totals


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)


def load(tenant_id: int, customers, invoices, payments) -> None:
    """COPY the generated records as the owner, keeping the generator's ids so the truth lines up."""
    from django.db import connections

    from o2c.ledger.status import invoice_status

    conn = connections["owner"]
    conn.ensure_connection()
    raw = conn.connection
    now = "2026-01-01 00:00:00+00"
    with raw.cursor() as cur:
        # The journal is append-only even for the owner: the bench tenant's rows go with the trigger off.
        cur.execute("ALTER TABLE cashapp_application DISABLE TRIGGER USER")
        cur.execute("DELETE FROM deductions_deduction WHERE tenant_id = %s", [tenant_id])
        cur.execute("DELETE FROM cashapp_application WHERE tenant_id = %s", [tenant_id])
        cur.execute("ALTER TABLE cashapp_application ENABLE TRIGGER USER")
        for table in ("cashapp_suggestion", "cashapp_paymentmatch", "cashapp_paymentreceipt", "cashapp_matchingrun",
                      "payments_remittanceline", "payments_remittanceadvice", "payments_payment",
                      "payments_bankfile", "o2c_invoice", "o2c_customeralias", "o2c_customerbankaccount",
                      "o2c_customer", "cashapp_cashappsettings"):
            cur.execute(f"DELETE FROM {table} WHERE tenant_id = %s", [tenant_id])  # noqa: S608
        with cur.copy("COPY o2c_customer (tenant_id, id, external_id, name, parent_id, payment_terms, currency, "
                      "is_active, created_at, updated_at) FROM STDIN") as copy:
            # Parents first: the foreign key is checked row by row.
            for c in sorted(customers, key=lambda c: (c.parent_id is not None, c.id)):
                copy.write_row((tenant_id, c.id, f"C{c.id}", c.name, c.parent_id, "net 30", "USD", True, now, now))
        with cur.copy("COPY o2c_customeralias (tenant_id, customer_id, alias, normalized, source, created_at) "
                      "FROM STDIN") as copy:
            for c in customers:
                for n, a in enumerate(c.aliases):
                    copy.write_row((tenant_id, c.id, a.name, f"{a.name.upper()}#{n}", a.source,
                                    f"{a.learned_on or '2026-01-01'} 00:00:00+00"))
        with cur.copy("COPY o2c_customerbankaccount (tenant_id, customer_id, account_identifier, bank_name, "
                      "created_at) FROM STDIN") as copy:
            seen = set()
            for c in customers:
                for account in c.bank_accounts:
                    if account not in seen:
                        seen.add(account)
                        copy.write_row((tenant_id, c.id, account, "", now))
        with cur.copy("COPY o2c_invoice (tenant_id, id, number, customer_id, issue_date, due_date, amount, currency, "
                      "open_balance, po_number, discount_percent, discount_due_date, status, created_at, updated_at) "
                      "FROM STDIN") as copy:
            for i in invoices:
                status = invoice_status(i.amount, i.open_balance)
                copy.write_row((tenant_id, i.id, i.number, i.customer_id, i.issue_date, i.due_date, i.amount,
                                i.currency, i.open_balance, i.po_number, i.discount_percent, i.discount_due_date,
                                status, now, now))
        cur.execute("INSERT INTO payments_bankfile (tenant_id, file_name, size, sha256, format, statements, "
                    "payments_created, duplicates_skipped, debits_skipped, remittances, remittances_linked, "
                    "warnings, created_at) VALUES (%s, 'bench', 0, md5(random()::text), 'bench', 1, %s, 0, 0, 0, 0, "
                    "'[]', now()) RETURNING id", [tenant_id, len(payments)])
        bank_file_id = cur.fetchone()[0]
        with cur.copy("COPY payments_payment (tenant_id, id, bank_file_id, bank_reference, account, amount, currency, "
                      "value_date, booking_date, channel, bank_code, payer_name, payer_account, end_to_end_id, "
                      "remittance_text, raw, source_line, unapplied_amount, status, created_at) FROM STDIN") as copy:
            for p in payments:
                copy.write_row((tenant_id, p.id, bank_file_id, f"BR{p.id}", "BENCH", p.amount, p.currency, p.date,
                                p.date, "ach", "", p.payer_name[:200], p.payer_account[:70], "", p.text, "", "",
                                p.amount, "unapplied", now))
        with cur.copy("COPY payments_remittanceline (tenant_id, payment_id, position, reference, reference_type, "
                      "amount_paid, gross_amount, discount, adjustment, adjustment_reason, text) FROM STDIN") as copy:
            for p in payments:
                for n, line in enumerate(p.lines, start=1):
                    copy.write_row((tenant_id, p.id, n, line.reference[:140], line.reference_type, line.amount_paid,
                                    line.gross_amount, line.discount, line.adjustment, line.adjustment_reason, ""))
        for table in ("o2c_customer", "o2c_invoice", "payments_payment"):
            cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
        cur.execute("INSERT INTO cashapp_cashappsettings (tenant_id, auto_apply_threshold, write_off_tolerance, "
                    "discount_grace_days, send_receipts, match_after_import) VALUES (%s, 0.9, 0, 0, false, false)",
                    [tenant_id])
    # A ledger in service has been vacuumed (autovacuum): visibility settled, dead rows of the previous
    # load gone, statistics current. Without this the timed run would pay for the bulk load's aftermath
    # (setting hint bits on a million fresh rows as it first reads them).
    raw.autocommit = True
    with raw.cursor() as cur:
        for table in ("o2c_customer", "o2c_invoice", "payments_payment", "payments_remittanceline",
                      "cashapp_application", "cashapp_paymentmatch", "cashapp_suggestion", "deductions_deduction"):
            cur.execute(f"VACUUM ANALYZE {table}")


def outcome_from_db(tenant_id: int):
    """payment id -> (applied automatically?, {invoice id: applied}), read back as the owner."""
    from django.db import connections

    auto = defaultdict(dict)
    with connections["owner"].cursor() as cur:
        cur.execute("SELECT payment_id, invoice_id, applied_amount, deduction_amount FROM cashapp_application "
                    "WHERE tenant_id = %s AND source = 'auto'", [tenant_id])
        for pid, iid, applied, deduction in cur.fetchall():
            auto[pid][iid] = (applied, deduction)
        cur.execute("SELECT outcome, count(*) FROM cashapp_paymentmatch WHERE tenant_id = %s GROUP BY outcome",
                    [tenant_id])
        outcomes = dict(cur.fetchall())
    return auto, outcomes


def main() -> None:
    args = parse_args()
    print(machine_speed())
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    migrate()
    from bench import cashapp_data
    from cashapp.services import matching_run_create, matching_run_execute
    from o2c.models import Tenant
    from o2c.tenancy import tenant_context

    tenant = Tenant.objects.using("owner").get_or_create(slug=TENANT_SLUG, defaults={"name": "Bench cash app"})[0]
    started = time.perf_counter()
    data = cashapp_data.generate(seed=args.seed, n_payments=args.payments, n_invoices=args.invoices,
                                 n_customers=args.customers, skew=args.skew)
    customers, invoices, payments, truth = data.customers, data.invoices, data.payments, data.truth
    print(f"generated {len(customers):,} customers, {len(invoices):,} invoices, {len(payments):,} payments "
          f"(seed {args.seed}) in {time.perf_counter() - started:.1f} s")
    started = time.perf_counter()
    load(tenant.pk, customers, invoices, payments)
    print(f"loaded with COPY in {time.perf_counter() - started:.1f} s (set-up, not timed below)")
    # A worker holds none of the generator's 0.7 GB of objects: drop them, so that the run's garbage
    # collections do not walk them over and over (that alone cost the run ~10 s), and keep only the truth.
    del data, customers, invoices, payments
    gc.collect()
    gc.freeze()

    phases = time_phases() if args.phases else None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = time.process_time()
    started = time.perf_counter()
    with tenant_context(tenant):
        run = matching_run_create(trigger="command")
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk,
                               **({"chunk_size": args.chunk} if args.chunk else {}))
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"\nmatching run {run.pk}: {run.payments_done:,} payments in {elapsed:.1f} s "
          f"({run.payments_done / elapsed:,.0f} payments/s), as the app role with RLS on")
    print(f"  auto-applied {run.auto_applied:,}, suggested {run.suggested:,}, unmatched {run.unmatched:,}")
    print(f"  peak RSS {peak / 1024:,.0f} MiB (before the run {rss_before / 1024:,.0f} MiB); "
          f"Python CPU {time.process_time() - cpu_before:.1f} s (both threads)")
    if phases is not None:
        for label, seconds in sorted(phases.items()):
            if label.startswith("cyclic GC"):
                label = label.replace("{n}", f"{phases.gc_counts[int(label.split()[3])]:,}")
            print(f"  {label:<52}{seconds:6.1f} s")
        print("  writer thread, per statement (execute, including the round trip):")
        for text, seconds in phases.statements.most_common(16):
            print(f"    {seconds:6.2f} s  {text}")

    auto, outcomes = outcome_from_db(tenant.pk)
    report_accuracy(auto, truth)
    print(f"  decisions recorded: {dict(sorted(outcomes.items()))}")
    if args.again:
        runs_again(tenant, args.again)


def runs_again(tenant, n: int) -> None:
    """A worker's next runs of the tenant: N new payments each, first with the kept index, then without."""
    import cashapp.services.runs as services
    from cashapp import warm
    from cashapp.services import matching_run_create, matching_run_execute
    from o2c.tenancy import tenant_context

    setup = []
    original = services._run_setup

    def timed(*args, **kwargs):
        started = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            setup.append(time.perf_counter() - started)
    services._run_setup = timed
    index_time = []
    def timer(original):
        def timed_index(*args, **kwargs):
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                index_time.append(time.perf_counter() - started)
        return timed_index
    for name in ("_refresh", "build"):
        setattr(warm, name, timer(getattr(warm, name)))
    print()
    for label in ("kept index, refreshed after the big run", "kept index, refreshed after a small run",
                  "index dropped, built from scratch"):
        add_payments(tenant.pk, n)
        if label.startswith("index dropped"):
            warm.forget()
        gc.collect()  # the kept index's first collection after run 1 (a worker's idle time), not timed
        stats = warm.stats.copy()
        index_time.clear()
        started = time.perf_counter()
        with tenant_context(tenant):
            run = matching_run_create(trigger="command")
        run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
        elapsed = time.perf_counter() - started
        how = ", ".join(f"{k} {v - stats[k]}" for k, v in sorted(warm.stats.items()) if v != stats[k])
        print(f"next run, {label} ({how}): set-up {setup[-1]:.2f} s (the index {sum(index_time):.2f} s), "
              f"whole run {elapsed:.2f} s "
              f"({run.payments_done:,} unapplied payments looked at, {run.auto_applied} auto-applied); "
              f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


def add_payments(tenant_id: int, n: int) -> None:
    """N payments naming an open invoice each, as a small bank file would bring them (as the owner)."""
    from django.db import connections

    with connections["owner"].cursor() as cur:
        cur.execute("INSERT INTO payments_bankfile (tenant_id, file_name, size, sha256, format, statements, "
                    "payments_created, duplicates_skipped, debits_skipped, remittances, remittances_linked, "
                    "warnings, created_at) VALUES (%s, 'again', 0, md5(random()::text), 'bench', 1, %s, 0, 0, 0, 0, "
                    "'[]', now()) RETURNING id", [tenant_id, n])
        bank_file_id = cur.fetchone()[0]
        cur.execute("SELECT i.id, i.number, i.open_balance, c.name FROM o2c_invoice i JOIN o2c_customer c "
                    "ON c.tenant_id = i.tenant_id AND c.id = i.customer_id WHERE i.tenant_id = %s "
                    "AND i.status = 'open' ORDER BY i.id DESC LIMIT %s", [tenant_id, n])
        for iid, number, amount, payer in cur.fetchall():
            cur.execute("INSERT INTO payments_payment (tenant_id, bank_file_id, bank_reference, account, amount, "
                        "currency, value_date, booking_date, channel, bank_code, payer_name, payer_account, "
                        "end_to_end_id, remittance_text, raw, source_line, unapplied_amount, status, created_at) "
                        "VALUES (%s, %s, %s, 'BENCH', %s, 'USD', '2026-11-01', '2026-11-01', 'ach', '', %s, '', '', "
                        "%s, '', '', %s, 'unapplied', now())",
                        [tenant_id, bank_file_id, f"AGAIN{bank_file_id}-{iid}", amount, payer, number, amount])


def report_accuracy(auto: dict, truth: dict) -> None:
    """The same figures as the pure benchmark, from the database: per case and overall."""
    per_case = defaultdict(Counter)
    for pid, t in truth.items():
        c = per_case[t.case]
        c["payments"] += 1
        posted = auto.get(pid)
        expected = {iid: Decimal(a) for iid, a in t.applied.items()} if t.applied else {}
        if t.matchable:
            c["matchable"] += 1
        if posted is not None:
            c["auto"] += 1
            correct = {iid: v[0] for iid, v in posted.items()} == expected
            c["auto_correct"] += correct
            if not t.matchable:
                c["false_auto"] += 1
    total = Counter()
    print(f"\n  {'case':<28}{'payments':>9}{'auto ok %':>11}{'precision %':>13}{'false auto':>12}")
    for case in sorted(per_case):
        c = per_case[case]
        total.update(c)
        print(f"  {case:<28}{c['payments']:>9,}{_pct(c['auto_correct'], c['matchable']):>11}"
              f"{_pct(c['auto_correct'], c['auto']):>13}{c['false_auto']:>12}")
    print(f"  {'overall':<28}{total['payments']:>9,}{_pct(total['auto_correct'], total['matchable']):>11}"
          f"{_pct(total['auto_correct'], total['auto']):>13}{total['false_auto']:>12}")


def _pct(a: int, b: int) -> str:
    return f"{100 * a / b:.2f}" if b else "-"


if __name__ == "__main__":
    os.environ.setdefault("O2C_LOG_LEVEL", "WARNING")
    main()
