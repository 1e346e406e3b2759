"""Intraday: a small bank file on a tenant with a big open ledger and thousands of payments still waiting.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/cashapp_intraday.py \
        [--invoices 200000] [--customers 5000] [--waiting 5000] [--file 10] [--seed 2] [--db o2c_bench_intraday]

The ledger and the payments come from `bench/cashapp_data.py`. The waiting payments are loaded with COPY (set-up,
not timed); then a camt.053 of `--file` generated payments is imported through `bank_file_import`, as the app
role with row-level security on, and the run it starts executes in this process (Celery eager, as with no
broker), so the time printed is the import and its run, end to end. The run is split into its phases: set-up
(the tenant's index: customers, open invoices, build; then listing the run's payments), matching, and writing
(the writer thread's commits). Last, for comparison, a run of every waiting payment: what an import's run did
before runs had a scope.

`--worker` (with REDIS_URL): the runs go to a real Celery worker process instead, started by the bench; a first run
of every waiting payment builds the worker's index and keeps it, then `--files` small files are imported one after
the other, each timed from the import's start until its run's row says done, with the worker's phases.
"""

from __future__ import annotations

import argparse
import functools
import gc
import os
import sys
import time
from collections import Counter
from decimal import Decimal
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.cashapp_e2e import load  # noqa: E402
from bench.invoice_list import ensure_database, machine_speed, setup_django  # noqa: E402

TENANT_SLUG = "bench-intraday"


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--invoices", type=int, default=200_000)
    p.add_argument("--customers", type=int, default=5_000)
    p.add_argument("--waiting", type=int, default=5_000, help="payments waiting from earlier files")
    p.add_argument("--file", type=int, default=10, help="payments in the new bank file")
    p.add_argument("--seed", type=int, default=2)
    p.add_argument("--db", default="o2c_bench_intraday")
    p.add_argument("--statements", action="store_true",
                   help="also print the run's SQL statements by time spent (execute, copy, commit; all threads)")
    p.add_argument("--skew", action="store_true", help="customer sizes skewed (Zipf 0.8: the largest holds ~4 %%)")
    p.add_argument("--worker", action="store_true",
                   help="runs on a real Celery worker (REDIS_URL); after a first run warms its index, time "
                        "--files imports of --file payments each, from the import's start to its run's end")
    p.add_argument("--files", type=int, default=5, help="with --worker: how many small files, one after the other")
    p.add_argument("--as-worker", metavar="PHASES_FILE", help=argparse.SUPPRESS)  # the worker process itself
    return p.parse_args()


def camt053(payments, number: int = 1) -> bytes:
    """The generated payments as one camt.053 statement (payer, account, structured and free remittance)."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             f"<GrpHdr><MsgId>INTRADAY-{number}</MsgId><CreDtTm>2026-01-02T10:00:00</CreDtTm></GrpHdr>",
             f"<Stmt><Id>INTRADAY-{number}</Id><CreDtTm>2026-01-02T10:00:00</CreDtTm>",
             "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>"]
    for p in payments:
        remittance = f"<Ustrd>{escape(p.text[:140])}</Ustrd>" if p.text else ""
        for line in p.lines:
            paid = f"<RfrdDocAmt><RmtdAmt Ccy=\"USD\">{line.amount_paid:.2f}</RmtdAmt></RfrdDocAmt>" \
                if line.amount_paid is not None else ""
            remittance += f"<Strd><RfrdDocInf><Nb>{escape(line.reference[:35])}</Nb></RfrdDocInf>{paid}</Strd>"
        account = f"<DbtrAcct><Id><IBAN>{p.payer_account}</IBAN></Id></DbtrAcct>" if p.payer_account else ""
        parts.append(
            f"<Ntry><Amt Ccy=\"USD\">{Decimal(p.amount):.2f}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>"
            f"<BookgDt><Dt>{p.date}</Dt></BookgDt><ValDt><Dt>{p.date}</Dt></ValDt>"
            f"<AcctSvcrRef>INTRADAY-{p.id}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            "<Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>"
            f"<RltdPties><Dbtr><Pty><Nm>{escape(p.payer_name[:140])}</Nm></Pty></Dbtr>{account}</RltdPties>"
            + (f"<RmtInf>{remittance}</RmtInf>" if remittance else "")
            + "</TxDtls></NtryDtls></Ntry>")
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


def time_phases() -> Counter:
    """Seconds per phase of a run (bench-only wrappers; the service is unchanged). The writer thread's commits
    overlap the matcher's work, so the phases can add up to more than the run's wall time."""
    import cashapp.services.runs as runs
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

    for name, label in (("checkout", "set-up: index (refresh or build)"), ("_refresh", "set-up: refresh"),
                        ("customer_records", "set-up: load customers"),
                        ("open_invoice_records", "set-up: load open invoices")):
        wrap(warm, name, label)
    for name, label in (("_execute", "run"), ("_run_setup", "set-up"),
                        ("payment_records", "match: load payments"), ("match_payments", "match: match"),
                        ("_commit_chunk", "write: commit chunks (writer thread)"),
                        ("_run_begin", "begin"), ("_run_finish", "finish")):
        wrap(runs, name, label)
    build = MatchIndex.build.__func__

    def timed_build(cls, customers, invoices):
        started = time.perf_counter()
        try:
            return build(cls, customers, invoices)
        finally:
            totals["set-up: build index"] += time.perf_counter() - started
    MatchIndex.build = classmethod(timed_build)
    wrap(MatchIndex, "refresh", "set-up: refresh: the index itself (Python)")
    return totals


def time_statements() -> Counter:
    """Seconds per SQL statement (its opening words, the thread's name), including the round trip."""
    import contextlib
    import re
    import threading

    import psycopg

    statements: Counter = Counter()
    words = re.compile(r"\s+")
    execute, copy, commit = psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit

    def key(text) -> str:
        thread = threading.current_thread().name.rsplit("-", 1)[-1]
        return f"[{thread[:10]}] " + " ".join(words.split(str(text).strip())[:7])[:80]

    def timed_execute(self, query, *args, **kwargs):
        started = time.perf_counter()
        try:
            return execute(self, query, *args, **kwargs)
        finally:
            statements[key(query)] += time.perf_counter() - started

    @contextlib.contextmanager
    def timed_copy(self, statement, *args, **kwargs):
        started = time.perf_counter()
        try:
            with copy(self, statement, *args, **kwargs) as c:
                yield c
        finally:
            statements[key(statement)] += time.perf_counter() - started

    def timed_commit(self):
        started = time.perf_counter()
        try:
            return commit(self)
        finally:
            statements[key("COMMIT")] += time.perf_counter() - started
    psycopg.Cursor.execute, psycopg.Cursor.copy, psycopg.Connection.commit = timed_execute, timed_copy, timed_commit
    return statements


def report(label: str, elapsed: float, run, phases: Counter, statements: Counter | None,
           imported: bool = False) -> None:
    index = phases["set-up: index (refresh or build)"]
    print(f"\n{label}: {elapsed:.2f} s")
    print(f"  run {run.pk} ({run.run_scope.describe()}): {run.payments_done:,} payments, {run.auto_applied:,} applied, "
          f"{run.suggested:,} suggested, {run.unmatched:,} unmatched, {run.unchanged:,} as before")
    print(f"  run, from start to end            {phases['run']:7.3f} s")
    print(f"    set-up                          {phases['set-up']:7.3f} s")
    for key in ("set-up: load customers", "set-up: load open invoices", "set-up: build index", "set-up: refresh"):
        print(f"      {key[8:]:<30}{phases[key]:7.3f} s")
    print(f"      list the run's payments       {phases['set-up'] - index:7.3f} s")
    print(f"    match: load payments            {phases['match: load payments']:7.3f} s")
    print(f"    match: match                    {phases['match: match']:7.3f} s")
    print(f"    write (writer thread)           {phases['write: commit chunks (writer thread)']:7.3f} s")
    print(f"    begin and finish the run        {phases['begin'] + phases['finish']:7.3f} s")
    rest = phases["run"] - sum(phases[k] for k in ("set-up", "match: load payments", "match: match", "begin", "finish",
                                                   "write: commit chunks (writer thread)"))
    print(f"    the rest (freeing the index, threads; negative: writing overlapped matching) {rest:7.3f} s")
    if imported:
        print(f"  import itself (parse, store)      {elapsed - phases['run']:7.3f} s")
    if statements is not None:
        print("  statements by time (execute/copy/commit, with the round trip; [thread]):")
        for text, seconds in statements.most_common(25):
            print(f"    {seconds:7.3f} s  {text}")


def worker_process(phases_file: str, db: str) -> None:
    """The Celery worker of `--worker`: the app's worker, solo pool, every queue, with the bench's phase timers
    around the run's steps; each task's phases go to `phases_file` as one JSON line when it ends."""
    import json

    setup_django(db)
    from celery.signals import task_postrun, task_prerun

    from o2c.celery import all_queues, app

    phases = time_phases()
    received: dict[str, float] = {}

    from cashapp import warm

    @task_prerun.connect(weak=False)
    def started(task_id=None, **_):
        phases.clear()
        received[task_id] = time.time()
        phases["refresh rows"] = -warm.stats["rows read by refreshes"]

    @task_postrun.connect(weak=False)
    def ended(task_id=None, task=None, args=None, **_):
        if task is None or task.name != "cashapp.matching_run_execute":
            return
        phases["refresh rows"] += warm.stats["rows read by refreshes"]
        line = {"run_id": int(args[1]), "started": received.pop(task_id, None), "ended": time.time(), **phases}
        with open(phases_file, "a") as out:
            out.write(json.dumps(line) + "\n")

    app.worker_main(["worker", "--pool", "solo", "--queues", all_queues(), "--loglevel", "WARNING", "-O", "fair",
                     "--without-gossip", "--without-mingle", "--without-heartbeat", "--concurrency", "1"])


def start_worker(args, phases_file: str):
    import subprocess

    env = {**os.environ, "O2C_DB_NAME": args.db}
    return subprocess.Popen([sys.executable, __file__, "--as-worker", phases_file, "--db", args.db], cwd=ROOT,
                            env=env)


def run_done(tenant, run_id: int, deadline: float, worker) -> tuple[object, float]:
    """Poll the run's row (every 2 ms) until it has ended; (the run, time.time() when seen ended)."""
    from cashapp.models import MatchingRun
    from o2c.tenancy import tenant_context

    while True:
        with tenant_context(tenant):
            run = MatchingRun.objects.get(pk=run_id)
        if run.status not in ("queued", "running"):
            return run, time.time()
        if time.monotonic() > deadline or worker.poll() is not None:
            raise SystemExit(f"run {run_id} still {run.status}: the worker is stuck or gone")
        time.sleep(0.002)


def worker_phases(phases_file: str, run_id: int) -> dict:
    """The worker's JSON line for the run (written just after the task returns: wait for it a little)."""
    import json

    for _ in range(2000):
        if os.path.exists(phases_file):
            with open(phases_file) as f:
                for line in f:
                    data = json.loads(line)
                    if data["run_id"] == run_id:
                        return data
        time.sleep(0.005)
    return {}


def report_worker(label: str, elapsed: float, imported: float, phases: dict, run) -> None:
    hop = phases.get("started", 0) - imported
    setup = phases.get("set-up", 0)
    index = phases.get("set-up: index (refresh or build)", 0)
    match = phases.get("match: load payments", 0) + phases.get("match: match", 0)
    task = phases.get("ended", 0) - phases.get("started", 0)
    refresh = phases.get("set-up: refresh", 0)
    python = phases.get("set-up: refresh: the index itself (Python)", 0)
    print(f"{label}: {elapsed * 1000:7.0f} ms | import {phases.get('_import', 0) * 1000:4.0f}, hop {hop * 1000:4.0f}, "
          f"run {phases.get('run', 0) * 1000:.0f}: begin {phases.get('begin', 0) * 1000:.0f}, index {index * 1000:.0f} "
          f"(refresh {refresh * 1000:.0f}: SQL and rows {(refresh - python) * 1000:.0f}, index {python * 1000:.0f}, "
          f"customers {phases.get('set-up: load customers', 0) * 1000:.0f}; {phases.get('refresh rows', 0):.0f} rows), "
          f"list {(setup - index) * 1000:3.0f}, match {match * 1000:4.0f}, "
          f"write {phases.get('write: commit chunks (writer thread)', 0) * 1000:4.0f}, "
          f"finish {phases.get('finish', 0) * 1000:4.0f}, task {task * 1000:4.0f} ms"
          f" | {run.payments_done} payments: {run.auto_applied} applied, {run.suggested} suggested, "
          f"{run.unmatched} unmatched")


def main_worker(args, tenant, new) -> None:
    """`--worker`: a first run of every waiting payment warms the worker's index, then --files small imports."""
    import statistics
    import tempfile

    from cashapp.models import MatchingRun
    from cashapp.services import matching_run_create
    from cashapp.tasks import matching_run_execute_task
    from o2c.tenancy import tenant_context
    from payments.services import bank_file_import

    phases_file = os.path.join(tempfile.mkdtemp(prefix="intraday-"), "phases.jsonl")
    worker = start_worker(args, phases_file)
    try:
        started = time.time()
        with tenant_context(tenant):
            run = matching_run_create(trigger="command")
        matching_run_execute_task.delay(tenant.pk, run.pk)
        run, done = run_done(tenant, run.pk, time.monotonic() + 3600, worker)
        phases = worker_phases(phases_file, run.pk)
        print(f"first run on the worker (builds and keeps the index; every waiting payment): {done - started:.2f} s, "
              f"index {phases.get('set-up: index (refresh or build)', 0):.2f} s, "
              f"{run.payments_done:,} payments, status {run.status}")
        times = []
        for n in range(args.files):
            batch = new[n * args.file:(n + 1) * args.file]
            data = camt053(batch, number=n + 2)
            started = time.time()
            with tenant_context(tenant):
                bank_file = bank_file_import(data=data, file_name=f"intraday-{n + 2}.xml")
            imported = time.time()
            with tenant_context(tenant):
                run_id = MatchingRun.objects.filter(bank_file=bank_file).values_list("pk", flat=True).get()
            run, done = run_done(tenant, run_id, time.monotonic() + 600, worker)
            phases = {**worker_phases(phases_file, run_id), "_import": imported - started}
            times.append(done - started)
            report_worker(f"file {n + 1}: import to run done", done - started, imported, phases, run)
        print(f"\n{args.file}-payment camt.053, import to its run done on the worker, median of {len(times)}: "
              f"{statistics.median(times) * 1000:.0f} ms (min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f})")
    finally:
        worker.terminate()
        try:
            worker.wait(30)
        except Exception:
            worker.kill()


def main() -> None:
    args = parse_args()
    if args.as_worker:
        worker_process(args.as_worker, args.db)
        return
    if args.worker:
        if not os.environ.get("REDIS_URL"):
            raise SystemExit("--worker needs REDIS_URL (the broker the worker and this process share)")
        # A queue of this bench's own: a worker of another session on the same Redis does not take its tasks.
        os.environ["O2C_CELERY_QUEUE"] = f"o2c-bench-intraday-{os.getpid()}"
    print(machine_speed())
    ensure_database(args.db, fresh=True)
    setup_django(args.db)
    from django.core.management import call_command

    call_command("migrate", database="owner", verbosity=0)
    from bench import cashapp_data
    from cashapp.models import CashAppSettings, MatchingRun
    from cashapp.services import matching_run_create, matching_run_execute
    from o2c.models import Tenant
    from o2c.tenancy import tenant_context
    from payments.services import bank_file_import

    tenant = Tenant.objects.using("owner").get_or_create(slug=TENANT_SLUG, defaults={"name": "Bench intraday"})[0]
    files = args.files if args.worker else 1
    data = cashapp_data.generate(seed=args.seed, n_payments=args.waiting + args.file * files,
                                 n_invoices=args.invoices, n_customers=args.customers,
                                 skew=0.8 if args.skew else None)
    waiting, new = data.payments[:args.waiting], data.payments[args.waiting:]
    started = time.perf_counter()
    load(tenant.pk, data.customers, data.invoices, waiting)
    print(f"loaded {len(data.customers):,} customers, {len(data.invoices):,} open invoices and {len(waiting):,} "
          f"waiting payments with COPY in {time.perf_counter() - started:.1f} s (set-up, not timed)")
    del data
    gc.collect()
    gc.freeze()
    with tenant_context(tenant):
        CashAppSettings.objects.update(match_after_import=True, send_receipts=False)
    if args.worker:
        main_worker(args, tenant, new)
        return

    phases = time_phases()
    statements = time_statements() if args.statements else None
    started = time.perf_counter()
    with tenant_context(tenant):
        bank_file_import(data=camt053(new), file_name="intraday.xml")
    elapsed = time.perf_counter() - started
    with tenant_context(tenant):
        run = MatchingRun.objects.latest("pk")
    report(f"{len(new)}-payment camt.053: import and its run", elapsed, run, phases, statements, imported=True)

    phases.clear()
    if statements is not None:
        statements.clear()
    started = time.perf_counter()
    with tenant_context(tenant):
        run = matching_run_create(trigger="command")
    run = matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)
    report("for comparison, a run of every waiting payment (what the import's run was before)",
           time.perf_counter() - started, run, phases, statements)


if __name__ == "__main__":
    os.environ.setdefault("O2C_LOG_LEVEL", "WARNING")
    main()
