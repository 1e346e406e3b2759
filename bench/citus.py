"""o2c on single-node PostgreSQL, Citus with one worker and Citus with two workers, side by side, in one run.

    python bench/citus.py [--scale 1] [--threads 4] [--port 61000] [--backends postgres,citus-1w,citus-2w]

Starts every backend itself from `scripts/citus_cluster.py` (fresh `initdb` nodes on loopback ports from
--port: the single node without the Citus library, the clusters with a coordinator and 1 or 2 workers),
migrates each with `manage.py migrate` (on a coordinator that also distributes), and seeds 100 tenants,
one large (50,000 invoices x scale) and 99 small (300 each). The set-up of the three backends runs in
parallel; the measurements run one backend at a time, each in its own process:

- tenant growth: the same one-tenant work (invoice CSV import, camt.053 import, matching run, four page
  reads) on fresh small tenants with 10 and then 100 tenants present;
- the mixed workload: every tenant's cycle (the large tenant's three times, with files 20x the size) from
  --threads threads, through the real code paths (`import_invoices`, `import_bank_file` and `apply_cash`
  by call_command, pages by Django's test client signed in as each tenant's clerk); latency per operation;
- the coordinator hop: one invoice by primary key inside a tenant scope, timed alone.

An operation that fails is counted as an error in the table (first messages printed below it), never a
crash. Every node is stopped at the end, also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.import_invoices import HEADER  # noqa: E402
from bench.invoice_list import machine_speed  # noqa: E402

DB = "o2c_bench_citus"
TENANTS = 100
GROWTH_FROM = 10  # tenant growth is measured at this many tenants and at TENANTS
PROBES = 3  # fresh small tenants whose one-tenant work is timed at each level
SMALL_INVOICES, SMALL_CUSTOMERS = 300, 30
LARGE_CUSTOMERS = 2_000
LARGE_CYCLES = 3
CYCLE_INVOICES, CYCLE_PAYMENTS = 40, 20  # per small tenant's cycle; the large tenant's are 20x
LARGE_FACTOR = 20
OPERATIONS = ["invoice import", "bank-file import", "matching run", "page: invoices", "page: outstanding",
              "page: customers", "page: dashboard"]
PAGES = {"page: invoices": "/invoices/", "page: outstanding": "/invoices/?status=outstanding",
         "page: customers": "/customers/", "page: dashboard": "/"}
BACKENDS = {"postgres": 0, "citus-1w": 1, "citus-2w": 2}  # name -> Citus workers (0: plain PostgreSQL)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scale", type=float, default=1.0, help="grows the large tenant and the workload's files")
    p.add_argument("--threads", type=int, default=4)
    p.add_argument("--port", type=int, default=61000, help="first port; each backend takes the next ten")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--stage", choices=["setup", "measure"], help=argparse.SUPPRESS)  # the child processes
    p.add_argument("--out", help=argparse.SUPPRESS)
    return p.parse_args()


# --- generated files ------------------------------------------------------------------------------

def invoice_csv(prefix: str, customers: int, rows: int, rnd: random.Random) -> tuple[bytes, list[tuple]]:
    """An ERP invoice file of new invoices; returns it with (number, amount, customer name) of each row."""
    start = date.today() - timedelta(days=20)
    out, made = [HEADER], []
    for i in range(rows):
        c = rnd.randrange(customers)
        issue = start + timedelta(days=rnd.randrange(15))
        amount = Decimal(rnd.randrange(1_000, 2_000_000)) / 100
        number = f"{prefix}-{i:05d}"
        out.append(f"{number},C{c:05d},Customer {c:05d} Ltd,{issue},{issue + timedelta(days=30)},{amount},USD,,,\n")
        made.append((number, amount, f"Customer {c:05d} Ltd"))
    return "".join(out).encode(), made


def camt_file(ref: str, paid: list[tuple]) -> bytes:
    """A camt.053 statement paying each (number, amount, payer) exactly, the invoice number in the remittance."""
    parts = ['<?xml version="1.0" encoding="UTF-8"?>',
             '<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>',
             f"<GrpHdr><MsgId>{ref}</MsgId><CreDtTm>2026-01-02T06:00:00</CreDtTm></GrpHdr>",
             f"<Stmt><Id>{ref}</Id><CreDtTm>2026-01-02T06:00:00</CreDtTm>",
             "<Acct><Id><IBAN>DE89370400440532013000</IBAN></Id><Ccy>USD</Ccy></Acct>"]
    for i, (number, amount, payer) in enumerate(paid):
        parts.append(
            f"<Ntry><NtryRef>{ref}-{i}</NtryRef><Amt Ccy=\"USD\">{amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd>"
            "<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>2026-01-01</Dt></BookgDt><ValDt><Dt>2026-01-01</Dt></ValDt>"
            f"<AcctSvcrRef>{ref}-{i}</AcctSvcrRef><BkTxCd><Domn><Cd>PMNT</Cd><Fmly><Cd>RCDT</Cd>"
            "<SubFmlyCd>ESCT</SubFmlyCd></Fmly></Domn></BkTxCd><NtryDtls><TxDtls>"
            f"<Refs><EndToEndId>{ref}-{i}</EndToEndId></Refs><RltdPties><Dbtr><Pty><Nm>{payer}</Nm>"
            "</Pty></Dbtr></RltdPties>"
            f"<RmtInf><Strd><RfrdDocInf><Nb>{number}</Nb></RfrdDocInf><RfrdDocAmt><RmtdAmt Ccy=\"USD\">{amount}"
            "</RmtdAmt></RfrdDocAmt></Strd></RmtInf></TxDtls></NtryDtls></Ntry>")
    parts.append("</Stmt></BkToCstmrStmt></Document>")
    return "".join(parts).encode()


# --- seeding (child process, Django set up) ------------------------------------------------------

def tenant_slug(i: int) -> str:
    return f"t{i:03d}"


def create_tenants(indexes: list[int]) -> None:
    """Tenants through the service (it installs the triage defaults), each with settings and a clerk."""
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from cashapp.models import CashAppSettings
    from o2c.models import Role
    from o2c.services.tenants import tenant_create, user_create
    from o2c.tenancy import tenant_context

    for i in indexes:
        tenant = tenant_create(slug=tenant_slug(i), name=f"Tenant {i:03d}")
        with tenant_context(tenant):
            # Matching is its own operation here, and receipts would only fill the mail outbox.
            CashAppSettings.objects.create(match_after_import=False, send_receipts=False)
            user, _ = user_create(email=f"clerk{i:03d}@bench.test", role=Role.AR_CLERK,
                                  password="bench-password-123", check_password=False)
        TOTPDevice.objects.create(user=user, name="bench", confirmed=True)


def seed_ledgers(indexes: list[int], scale: float) -> None:
    """Customers and invoices by COPY as the owner (set-up: the workload's imports are timed, not this)."""
    from django.db import connections

    from o2c.models import Tenant

    ids = dict(Tenant.objects.using("owner").filter(slug__in=[tenant_slug(i) for i in indexes])
               .values_list("slug", "pk"))
    now, today = "2026-01-01 00:00:00+00", date.today()
    conn = connections["owner"]
    conn.ensure_connection()
    with conn.connection.cursor() as cur:
        with cur.copy("COPY o2c_customer (tenant_id, external_id, name, payment_terms, credit_limit, currency, "
                      "is_active, created_at, updated_at) FROM STDIN") as copy:
            for i in indexes:
                for c in range(LARGE_CUSTOMERS if i == 0 else SMALL_CUSTOMERS):
                    copy.write_row((ids[tenant_slug(i)], f"C{c:05d}", f"Customer {c:05d} Ltd", "net 30", None,
                                    "USD", True, now, now))
        cur.execute("SELECT tenant_id, id FROM o2c_customer WHERE tenant_id = ANY(%s) ORDER BY id",
                    [list(ids.values())])
        customers: dict[int, list[int]] = {}
        for tenant_id, customer_id in cur.fetchall():
            customers.setdefault(tenant_id, []).append(customer_id)
        with cur.copy("COPY o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, currency, "
                      "open_balance, po_number, discount_percent, discount_due_date, status, created_at, "
                      "updated_at) FROM STDIN") as copy:
            for i in indexes:
                tenant_id = ids[tenant_slug(i)]
                rnd = random.Random(i)
                count = int(50_000 * scale) if i == 0 else SMALL_INVOICES
                for n in range(count):
                    due = today - timedelta(days=rnd.randrange(-60, 400))
                    amount = Decimal(rnd.randrange(5_000, 5_000_000)) / 100
                    paid = rnd.random() < (0.85 if (today - due).days > 120 else 0.3)
                    copy.write_row((tenant_id, f"INV-{n:07d}", rnd.choice(customers[tenant_id]),
                                    due - timedelta(days=30), due, amount, "USD", 0 if paid else amount, "", 0,
                                    None, "paid" if paid else "open", now, now))
        cur.execute("ANALYZE o2c_customer")
        cur.execute("ANALYZE o2c_invoice")


def seed(indexes: list[int], scale: float) -> float:
    started = time.perf_counter()
    create_tenants(indexes)
    seed_ledgers(indexes, scale)
    return time.perf_counter() - started


# --- operations (child process) -----------------------------------------------------------------

class Tenant:
    """One tenant's handle for the workload: its slug, a signed-in test client, a cycle counter."""

    def __init__(self, index: int, user):
        from django.test import Client

        self.index, self.slug, self.cycles = index, tenant_slug(index), 0
        self.lock = threading.Lock()
        self.client = Client()
        self.client.force_login(user)
        session = self.client.session
        session["otp_device_id"] = user.totpdevice_set.get().persistent_id
        session.save()

    def customers(self) -> int:
        return LARGE_CUSTOMERS if self.index == 0 else SMALL_CUSTOMERS


def signed_in(indexes: list[int]) -> dict[int, Tenant]:
    from o2c.models import User

    users = {u.email: u for u in User.objects.filter(email__in=[f"clerk{i:03d}@bench.test" for i in indexes])}
    return {i: Tenant(i, users[f"clerk{i:03d}@bench.test"]) for i in indexes}


def cycle_ops(tenant: Tenant, factor: int, workdir: Path):
    """The one-tenant work, in order: new invoices, a bank file paying half of them, a matching run, pages."""
    from django.core.management import call_command

    tenant.cycles += 1
    ref = f"{tenant.slug}-{tenant.cycles}-{os.getpid()}"
    rnd = random.Random(ref)
    data, made = invoice_csv(f"N{tenant.cycles}", tenant.customers(), CYCLE_INVOICES * factor, rnd)
    bank = camt_file(ref, rnd.sample(made, CYCLE_PAYMENTS * factor))
    quiet = {"stdout": io.StringIO(), "stderr": io.StringIO()}

    def command(name, payload, suffix):
        path = workdir / f"{ref}.{suffix}"
        path.write_bytes(payload)
        try:
            call_command(name, "--tenant", tenant.slug, str(path), **quiet)
        finally:
            path.unlink()

    def page(url):
        response = tenant.client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status_code}")

    yield "invoice import", lambda: command("import_invoices", data, "csv")
    yield "bank-file import", lambda: command("import_bank_file", bank, "xml")
    yield "matching run", lambda: call_command("apply_cash", "--tenant", tenant.slug, **quiet)
    for name, url in PAGES.items():
        yield name, lambda url=url: page(url)


class Recorder:
    def __init__(self):
        self.latencies: dict[str, list[float]] = {op: [] for op in OPERATIONS}
        self.errors: dict[str, int] = {op: 0 for op in OPERATIONS}
        self.messages: dict[str, int] = {}  # distinct failures, counted
        self.lock = threading.Lock()

    def run(self, name: str, fn) -> float | None:
        started = time.perf_counter()
        try:
            fn()
        except Exception as exc:  # a failing operation is a figure of the table, not the end of the run
            from django.db import connection

            connection.close()  # a broken transaction must not fail the thread's next operation
            with self.lock:
                self.errors[name] += 1
                message = f"{name}: {root_cause(exc)}"
                if message in self.messages or len(self.messages) < 20:
                    self.messages[message] = self.messages.get(message, 0) + 1
            return None
        elapsed = time.perf_counter() - started
        with self.lock:
            self.latencies[name].append(elapsed)
        return elapsed


def root_cause(exc: BaseException) -> str:
    """The innermost exception's first line: the commands wrap an unexpected failure in a message with a
    reference (the cause goes to the log), which would hide what Citus refused."""
    while (exc.__cause__ or exc.__context__) is not None:
        exc = exc.__cause__ or exc.__context__
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}"


def run_cycle(tenant: Tenant, factor: int, workdir: Path, recorder: Recorder) -> dict[str, float | None]:
    with tenant.lock:
        return {name: recorder.run(name, fn) for name, fn in cycle_ops(tenant, factor, workdir)}


def growth_probe(indexes: list[int], workdir: Path) -> dict:
    """The one-tenant work on fresh small tenants: median seconds per operation and of the whole cycle."""
    from django.db import connections

    tenants = signed_in(indexes)
    recorder = Recorder()
    totals = []
    for tenant in tenants.values():
        times = run_cycle(tenant, 1, workdir, recorder)
        if None not in times.values():
            totals.append(sum(times.values()))
    connections.close_all()
    per_op = {op: statistics.median(v) if v else None for op, v in recorder.latencies.items()}
    return {"ops": per_op, "cycle": statistics.median(totals) if totals else None,
            "errors": sum(recorder.errors.values()), "messages": recorder.messages}


def mixed_workload(threads: int, workdir: Path) -> dict:
    from django.db import connections

    tenants = signed_in(list(range(TENANTS)))
    queue = [(tenants[i], 1) for i in range(1, TENANTS)]
    for k in range(LARGE_CYCLES):  # the large tenant's cycles spread over the run
        queue.insert(k * len(queue) // LARGE_CYCLES + k, (tenants[0], LARGE_FACTOR))
    recorder = Recorder()

    def work(item):
        try:
            run_cycle(*item, workdir, recorder)
        finally:
            connections.close_all()  # this thread's connections

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(work, queue))
    wall = time.perf_counter() - started
    return {"wall": wall, "latencies": recorder.latencies, "errors": recorder.errors,
            "messages": recorder.messages}


def coordinator_hop(samples: int = 1000) -> dict:
    """One invoice by primary key in a tenant scope: a single-shard query, the coordinator's routing and the
    extra network hop are all Citus adds to it. Timed inside an open scope, and as a whole scope."""
    from o2c.models import Invoice
    from o2c.models import Tenant as TenantRow
    from o2c.tenancy import tenant_context

    tenant = TenantRow.objects.get(slug=tenant_slug(5))
    with tenant_context(tenant):
        pks = list(Invoice.objects.values_list("pk", flat=True)[:200])
    rnd = random.Random(1)
    inside, whole = [], []
    with tenant_context(tenant):
        for _ in range(50):  # warm the plan caches
            Invoice.objects.filter(pk=rnd.choice(pks)).first()
        for _ in range(samples):
            t = time.perf_counter()
            Invoice.objects.filter(pk=rnd.choice(pks)).first()
            inside.append(time.perf_counter() - t)
    for _ in range(samples // 2):
        t = time.perf_counter()
        with tenant_context(tenant):  # BEGIN, SET LOCAL tenant, the query, COMMIT
            Invoice.objects.filter(pk=rnd.choice(pks)).first()
        whole.append(time.perf_counter() - t)
    return {"query": quantiles(inside), "scope": quantiles(whole)}


def quantiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": values[len(values) // 2], "p95": values[min(len(values) - 1, int(len(values) * 0.95))]}


def child_setup(args) -> dict:
    """Migrate, then the first tenants: the large one and those that make up GROWTH_FROM with the probes."""
    from django.core.management import call_command

    started = time.perf_counter()
    call_command("migrate", database="owner", verbosity=0)
    migrated = time.perf_counter() - started
    seeded = seed(list(range(GROWTH_FROM - PROBES)), args.scale)
    return {"migrate": migrated, "seed": seeded}


def child_measure(args, result: dict) -> None:
    """Fills `result` as it goes, so that a failure late in the run keeps what was measured before it."""
    with tempfile.TemporaryDirectory(prefix="o2c-bench-citus-") as workdir:
        work = Path(workdir)
        first = list(range(GROWTH_FROM - PROBES, GROWTH_FROM))
        seed(first, args.scale)
        result["growth"] = {GROWTH_FROM: growth_probe(first, work)}
        result["seed_rest"] = seed(list(range(GROWTH_FROM, TENANTS - PROBES)), args.scale)
        last = list(range(TENANTS - PROBES, TENANTS))
        seed(last, args.scale)
        result["growth"][TENANTS] = growth_probe(last, work)
        result["mixed"] = mixed_workload(args.threads, work)
    result["hop"] = coordinator_hop()


def child(args) -> None:
    from bench.invoice_list import setup_django

    setup_django(DB)
    result: dict = {}
    try:
        if args.stage == "setup":
            result.update(child_setup(args))
        else:
            child_measure(args, result)
    except Exception:
        result["failed"] = traceback.format_exc()
    Path(args.out).write_text(json.dumps(result))


# --- orchestration (parent process) --------------------------------------------------------------

def clusters_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import citus_cluster

    return citus_cluster


def start_backend(name: str, port: int):
    """Fresh nodes and the database: plain PostgreSQL (the Citus library not even loaded) or a cluster."""
    clusters = clusters_module()
    workers = BACKENDS[name]
    if workers:
        cluster = clusters.start(workers=workers, port=port)
        clusters.create_database(cluster, DB)
        return cluster
    base = Path(tempfile.mkdtemp(prefix="o2c-pg-"))
    node = clusters.Node("single", port, base / "single")
    try:
        clusters._init_node(node)
        with open(node.datadir / "postgresql.conf", "a") as conf:
            conf.write("shared_preload_libraries = ''\n")  # the later line wins: no Citus in this server
        clusters._start_node(node)
        import psycopg

        with psycopg.connect(node.dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{DB}"')
    except Exception:
        clusters.stop(base)
        raise
    return clusters.Cluster(base, node)


def run_child(stage: str, name: str, cluster, args) -> dict:
    out = Path(tempfile.mkstemp(prefix=f"o2c-bench-{name}-", suffix=".json")[1])
    env = {**os.environ, "DATABASE_URL": cluster.url(DB)}
    env.pop("REDIS_URL", None)  # Celery eager: every task in the measured process
    cmd = [sys.executable, __file__, "--stage", stage, "--out", str(out), "--scale", str(args.scale),
           "--threads", str(args.threads)]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
        text = out.read_text()
        result = json.loads(text) if text else {}
        if proc.returncode and "failed" not in result:
            result["failed"] = f"exit {proc.returncode}: {proc.stderr[-2000:]}"
        return result
    finally:
        out.unlink(missing_ok=True)


def ms(value) -> str:
    return "-" if value is None else f"{value * 1000:,.0f}" if value >= 0.1 else f"{value * 1000:.2f}"


def report(results: dict[str, dict], args) -> None:
    names = [n for n in results if "mixed" in results[n]]  # each section prints the backends that reached it
    print(f"\nMixed workload: {TENANTS} tenants (one of {int(50_000 * args.scale):,} invoices, the rest "
          f"{SMALL_INVOICES}), {args.threads} threads; each tenant's cycle once, the large tenant's "
          f"{LARGE_CYCLES} times with {LARGE_FACTOR}x files. Latency in ms.\n")
    print(f"{'backend':10} {'operation':18} {'ops':>5} {'ops/s':>7} {'p50':>8} {'p95':>8} {'errors':>6}")
    for name in names:
        mixed = results[name]["mixed"]
        for op in OPERATIONS:
            values = mixed["latencies"][op]
            q = quantiles(values)
            print(f"{name:10} {op:18} {len(values):5} {len(values) / mixed['wall']:7.1f} {ms(q['p50']):>8} "
                  f"{ms(q['p95']):>8} {mixed['errors'][op]:6}")
        done = sum(len(v) for v in mixed["latencies"].values())
        print(f"{name:10} {'all (wall ' + format(mixed['wall'], '.0f') + ' s)':18} {done:5} "
              f"{done / mixed['wall']:7.1f} {'':>8} {'':>8} {sum(mixed['errors'].values()):6}")
    print("\nCoordinator hop: one invoice by pk in a tenant scope (ms, p50 / p95)\n")
    base = results.get("postgres", {}).get("hop")
    for name in [n for n in results if "hop" in results[n]]:
        hop = results[name]["hop"]
        extra = ""
        if base and name != "postgres":
            extra = (f"   hop: +{ms(hop['query']['p50'] - base['query']['p50'])} query, "
                     f"+{ms(hop['scope']['p50'] - base['scope']['p50'])} scope")
        print(f"{name:10} query in open scope {ms(hop['query']['p50'])} / {ms(hop['query']['p95'])};  whole scope "
              f"(BEGIN, SET LOCAL, query, COMMIT) {ms(hop['scope']['p50'])} / {ms(hop['scope']['p95'])}{extra}")
    print(f"\nTenant growth: one small tenant's cycle (median of {PROBES} fresh tenants, ms) with {GROWTH_FROM} "
          f"and {TENANTS} tenants present\n")
    print(f"{'backend':10} {'operation':18} {GROWTH_FROM:>8} {TENANTS:>8} {'ratio':>6}")
    for name in [n for n in results if len(results[n].get("growth", {})) == 2]:
        growth = results[name]["growth"]
        low, high = growth[str(GROWTH_FROM)], growth[str(TENANTS)]
        for op in [*OPERATIONS, "whole cycle"]:
            a = low["cycle"] if op == "whole cycle" else low["ops"][op]
            b = high["cycle"] if op == "whole cycle" else high["ops"][op]
            ratio = f"{b / a:.2f}" if a and b else "-"
            print(f"{name:10} {op:18} {ms(a):>8} {ms(b):>8} {ratio:>6}")
        if low["errors"] or high["errors"]:
            print(f"{name:10} errors: {low['errors']} at {GROWTH_FROM}, {high['errors']} at {TENANTS}")
    messages: dict[tuple[str, str], int] = {}
    for name in results:
        parts = [results[name]["mixed"]] if "mixed" in results[name] else []
        for part in [*parts, *results[name].get("growth", {}).values()]:
            for message, count in part["messages"].items():
                messages[name, message] = messages.get((name, message), 0) + count
    if messages:
        print("\nErrors (mixed workload and growth probes), by cause:")
        for (name, message), count in messages.items():
            print(f"  {name:10} {count:4} x {message}")


def main() -> None:
    args = parse_args()
    if args.stage:
        return child(args)
    print(machine_speed())
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        sys.exit(f"unknown backends: {', '.join(sorted(unknown))}")
    clusters_module()
    started: dict[str, object] = {}
    results: dict[str, dict] = {}
    try:
        # Set-up in parallel (nodes, migrate, the large tenant): it is waiting on DDL round trips, mostly.
        def set_up(item):
            i, name = item
            t = time.perf_counter()
            started[name] = start_backend(name, args.port + 10 * i)
            setup = run_child("setup", name, started[name], args)
            return name, time.perf_counter() - t, setup

        with ThreadPoolExecutor(len(names)) as pool:
            for name, elapsed, setup in pool.map(set_up, enumerate(names)):
                results[name] = {"setup": setup}
                if "failed" in setup:
                    print(f"{name}: set-up failed:\n{setup['failed']}")
                else:
                    print(f"{name}: started, migrated in {setup['migrate']:.0f} s, first tenants seeded in "
                          f"{setup['seed']:.0f} s ({elapsed:.0f} s in all)")
        for name in names:  # measured one at a time, so the backends do not share the two cores
            if "failed" in results[name]["setup"]:
                continue
            t = time.perf_counter()
            measured = run_child("measure", name, started[name], args)
            if "failed" in measured:
                print(f"{name}: measurement failed:\n{measured['failed']}")
            else:
                print(f"{name}: measured in {time.perf_counter() - t:.0f} s (of which {measured['seed_rest']:.0f} s "
                      f"seeding the tenants {GROWTH_FROM + 1}-{TENANTS - PROBES})")
            results[name].update(measured)
        report(results, args)
    finally:
        for cluster in started.values():
            clusters_module().stop(cluster)


if __name__ == "__main__":
    main()
