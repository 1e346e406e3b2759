"""o2c on single-node PostgreSQL, Citus with one worker and Citus with two workers, side by side, in one run.

    python bench/citus.py [--scale 1] [--threads 4] [--port 27000] [--backends postgres,citus-1w,citus-2w]

Starts every backend itself from `scripts/citus_cluster.py` (fresh `initdb` nodes on loopback ports from
--port, ten per backend: the single node without the Citus library, the clusters a coordinator and 1 or 2
workers), migrates each with `manage.py migrate` (on a coordinator that also distributes) and seeds 100
tenants, one large (50,000 invoices x scale, 2,000 customers) and 99 small (300 invoices, 30 customers).
Each backend has its own child process (Django pointed at it); the parent sends them the same requests in
turn, never two at once, so that the drift of this shared box's speed falls on all backends alike:

- tenant growth (after one cycle of warm-up): a small tenant's first cycle (invoice CSV import, camt.053
  import, matching run, four page reads), each operation timed, with 10 tenants seeded and then with 100;
- the mixed workload: every tenant's cycle (the large tenant's three times, with files 20x the size) from
  --threads threads, through the real code paths (`import_invoices`, `import_bank_file` and `apply_cash`
  by call_command, the pages by Django's test client signed in as each tenant's clerk), in three slices,
  the backends taking turns; latency per operation;
- the coordinator hop: one invoice by primary key inside a tenant scope, timed alone.

An operation that fails is counted as an error in the table (causes printed below it), never a crash; a
backend that cannot start or migrate drops out of the run. Every node is stopped at the end, also on
Ctrl-C.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import shutil
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
PROBES = 5  # small tenants whose first cycle is timed at each level
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
    p.add_argument("--port", type=int, default=27000, help="first port; each backend takes the next ten")
    p.add_argument("--backends", default=",".join(BACKENDS))
    p.add_argument("--stage", choices=["child"], help=argparse.SUPPRESS)  # a backend's worker process
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


def quantiles(values: list[float]) -> dict:
    values = sorted(values)
    if not values:
        return {"p50": None, "p95": None}
    return {"p50": values[len(values) // 2], "p95": values[min(len(values) - 1, int(len(values) * 0.95))]}


class Worker:
    """The child process's side: Django pointed at one backend, answering the parent's requests one by one, so
    that the parent can interleave the backends (this shared box's speed drifts within minutes)."""

    def __init__(self, args):
        self.args = args
        self.workdir = Path(tempfile.mkdtemp(prefix="o2c-bench-citus-"))
        self.tenants: dict[int, Tenant] = {}
        # Kept across the slices, and no connection closed between cycles: each thread keeps its connection,
        # as a server process does with CONN_MAX_AGE (on Citus a new session also opens its worker connections).
        self.pool: ThreadPoolExecutor | None = None

    def handles(self, indexes: list[int]) -> list[Tenant]:
        missing = [i for i in indexes if i not in self.tenants]
        if missing:
            self.tenants.update(signed_in(missing))
        return [self.tenants[i] for i in indexes]

    def setup(self, first: list[int]) -> dict:
        from django.core.management import call_command

        started = time.perf_counter()
        call_command("migrate", database="owner", verbosity=0)
        migrated = time.perf_counter() - started
        return {"migrate": migrated, "seed": seed(first, self.args.scale)}

    def seed(self, indexes: list[int]) -> dict:
        return {"seconds": seed(indexes, self.args.scale)}

    def probe(self, index: int) -> dict:
        """One small tenant's first cycle, each operation timed."""
        recorder = Recorder()
        times = run_cycle(self.handles([index])[0], 1, self.workdir, recorder)
        return {"ops": times, "messages": recorder.messages}

    def mixed(self, indexes: list[int], threads: int) -> dict:
        """Each tenant's cycle from `threads` threads; the large tenant (index 0) with files LARGE_FACTOR x."""
        queue = [(t, LARGE_FACTOR if t.index == 0 else 1) for t in self.handles(indexes)]
        recorder = Recorder()
        self.pool = self.pool or ThreadPoolExecutor(threads)
        started = time.perf_counter()
        list(self.pool.map(lambda item: run_cycle(*item, self.workdir, recorder), queue))
        return {"wall": time.perf_counter() - started, "latencies": recorder.latencies, "errors": recorder.errors,
                "messages": recorder.messages}

    def hop(self, samples: int) -> dict:
        """One invoice by primary key in a tenant scope: a single-shard query; the coordinator's planning and
        the extra network hop are all Citus adds to it. Timed inside an open scope, and as a whole scope."""
        from o2c.models import Invoice
        from o2c.models import Tenant as TenantRow
        from o2c.tenancy import tenant_context

        tenant = TenantRow.objects.get(slug=tenant_slug(5))
        with tenant_context(tenant):
            pks = list(Invoice.objects.values_list("pk", flat=True)[:200])
        rnd = random.Random(samples)
        inside, whole = [], []
        with tenant_context(tenant):
            for _ in range(20):  # warm the plan caches
                Invoice.objects.filter(pk=rnd.choice(pks)).first()
            for _ in range(samples):
                t = time.perf_counter()
                Invoice.objects.filter(pk=rnd.choice(pks)).first()
                inside.append(time.perf_counter() - t)
        for _ in range(samples):
            t = time.perf_counter()
            with tenant_context(tenant):  # BEGIN, SET LOCAL tenant, the query, COMMIT
                Invoice.objects.filter(pk=rnd.choice(pks)).first()
            whole.append(time.perf_counter() - t)
        return {"query": inside, "scope": whole}


def child(args) -> None:
    """Requests on stdin, one JSON line each; answers on the original stdout, which nothing else may write to."""
    from bench.invoice_list import setup_django

    channel = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    setup_django(DB)
    worker = Worker(args)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            answer = getattr(worker, request["op"])(**request["args"])
        except Exception:
            answer = {"failed": traceback.format_exc()}
        channel.write(json.dumps(answer) + "\n")
        channel.flush()
    shutil.rmtree(worker.workdir, ignore_errors=True)


# --- orchestration (parent process) --------------------------------------------------------------

def clusters_module():
    sys.path.insert(0, str(ROOT / "scripts"))
    import citus_cluster

    return citus_cluster


class Backend:
    """The parent's side: the nodes of one backend and the child process that works on them."""

    def __init__(self, name: str, port: int, args):
        self.name, self.port, self.args = name, port, args
        self.cluster = self.proc = None
        self.broken: str | None = None  # why this backend is out of the run
        self.log = Path(tempfile.mkstemp(prefix=f"o2c-bench-{name}-", suffix=".log")[1])

    def start(self) -> None:
        """Fresh nodes and the database: plain PostgreSQL (the Citus library not even loaded) or a cluster."""
        clusters = clusters_module()
        workers = BACKENDS[self.name]
        if workers:
            self.cluster = clusters.start(workers=workers, port=self.port)
            clusters.create_database(self.cluster, DB)
        else:
            base = Path(tempfile.mkdtemp(prefix="o2c-pg-"))
            node = clusters.Node("single", self.port, base / "single")
            self.cluster = clusters.Cluster(base, node)
            clusters._init_node(node)
            with open(node.datadir / "postgresql.conf", "a") as conf:
                conf.write("shared_preload_libraries = ''\n")  # the later line wins: no Citus in this server
            clusters._start_node(node)
            import psycopg

            with psycopg.connect(node.dsn(), autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{DB}"')
        env = {**os.environ, "DATABASE_URL": self.cluster.url(DB)}
        env.pop("REDIS_URL", None)  # Celery eager: every task runs in the measured process
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, __file__, "--stage", "child", "--scale", str(self.args.scale)],
                env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)

    def send(self, op: str, **args) -> None:
        if not self.broken:
            try:
                self.proc.stdin.write(json.dumps({"op": op, "args": args}) + "\n")
                self.proc.stdin.flush()
            except OSError:  # the child is gone; receive() reports why
                pass

    def receive(self) -> dict:
        if self.broken:
            return {"failed": self.broken}
        line = self.proc.stdout.readline()
        answer = json.loads(line) if line else {"failed": "the child process ended:\n" + self.log.read_text()[-3000:]}
        if "failed" in answer and not self.broken:
            self.broken = answer["failed"]
            print(f"{self.name}: out of the run:\n{self.broken}", flush=True)
        return answer

    def call(self, op: str, **args) -> dict:
        self.send(op, **args)
        return self.receive()

    def stop(self) -> None:
        if self.proc is not None:
            try:
                self.proc.stdin.close()
            except OSError:
                pass
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if self.cluster is not None:
            clusters_module().stop(self.cluster.base)
        self.log.unlink(missing_ok=True)


def ms(value) -> str:
    return "-" if value is None else f"{value * 1000:,.0f}" if value >= 0.1 else f"{value * 1000:.2f}"


class Results:
    def __init__(self, names: list[str]):
        self.latencies = {n: {op: [] for op in OPERATIONS} for n in names}
        self.errors = {n: dict.fromkeys(OPERATIONS, 0) for n in names}
        self.wall = dict.fromkeys(names, 0.0)
        self.growth = {n: {level: [] for level in (GROWTH_FROM, TENANTS)} for n in names}
        self.loops = {level: [] for level in (GROWTH_FROM, TENANTS)}  # the box's speed at each probe round
        self.hop = {n: {"query": [], "scope": []} for n in names}
        self.messages: dict[tuple[str, str], int] = {}

    def note(self, name: str, messages: dict[str, int]) -> None:
        for message, count in messages.items():
            self.messages[name, message] = self.messages.get((name, message), 0) + count


def interleaved(backends: list[Backend], op: str, **args) -> dict[str, dict]:
    """The same request to each backend in turn (never two at once: they would share the two cores)."""
    return {b.name: b.call(op, **args) for b in backends if not b.broken}


def measure(backends: list[Backend], results: Results, args) -> None:
    # A first cycle nobody counts: the child's first requests import the views and compile the templates.
    interleaved(backends, "probe", index=1)
    # Tenant growth: a small tenant's first cycle with GROWTH_FROM tenants seeded, then with TENANTS.
    for level, probes in ((GROWTH_FROM, range(GROWTH_FROM - PROBES, GROWTH_FROM)),
                          (TENANTS, range(TENANTS - PROBES, TENANTS))):
        if level == TENANTS:
            for name, answer in interleaved(backends, "seed", indexes=list(range(GROWTH_FROM, TENANTS))).items():
                if "seconds" in answer:
                    print(f"{name}: tenants {GROWTH_FROM + 1}-{TENANTS} seeded in {answer['seconds']:.0f} s",
                          flush=True)
        for index in probes:
            results.loops[level].append(reference_loop())
            for name, answer in interleaved(backends, "probe", index=index).items():
                if "ops" in answer:
                    results.growth[name][level].append(answer["ops"])
                    results.note(name, answer["messages"])
    # The mixed workload in slices, the backends taking turns; one of the large tenant's cycles per slice.
    small = list(range(1, TENANTS))
    for k in range(LARGE_CYCLES):
        chunk = [0, *small[k * len(small) // LARGE_CYCLES:(k + 1) * len(small) // LARGE_CYCLES]]
        for name, answer in interleaved(backends, "mixed", indexes=chunk, threads=args.threads).items():
            if "wall" in answer:
                results.wall[name] += answer["wall"]
                for op in OPERATIONS:
                    results.latencies[name][op] += answer["latencies"][op]
                    results.errors[name][op] += answer["errors"][op]
                results.note(name, answer["messages"])
        print(f"mixed workload: slice {k + 1} of {LARGE_CYCLES} done", flush=True)
    for _ in range(5):
        for name, answer in interleaved(backends, "hop", samples=100).items():
            if "query" in answer:
                for kind in ("query", "scope"):
                    results.hop[name][kind] += answer[kind]


def report(results: Results, names: list[str], args) -> None:
    print(f"\nMixed workload: {TENANTS} tenants (one of {int(50_000 * args.scale):,} invoices, the rest "
          f"{SMALL_INVOICES}), {args.threads} threads; each tenant's cycle once, the large tenant's "
          f"{LARGE_CYCLES} times with {LARGE_FACTOR}x files; the backends took turns in {LARGE_CYCLES} slices. "
          "Latency in ms.\n")
    print(f"{'backend':10} {'operation':18} {'ops':>5} {'ops/s':>7} {'p50':>8} {'p95':>8} {'errors':>6}")
    for name in names:
        wall = results.wall[name]
        if not wall:
            continue
        for op in OPERATIONS:
            values = results.latencies[name][op]
            q = quantiles(values)
            print(f"{name:10} {op:18} {len(values):5} {len(values) / wall:7.1f} {ms(q['p50']):>8} "
                  f"{ms(q['p95']):>8} {results.errors[name][op]:6}")
        done = sum(len(v) for v in results.latencies[name].values())
        print(f"{name:10} {'all (' + format(wall, '.0f') + ' s)':18} {done:5} {done / wall:7.1f} {'':>8} {'':>8} "
              f"{sum(results.errors[name].values()):6}")
    print("\nCoordinator hop: one invoice by pk in a tenant scope, 500 samples each, ms p50 / p95 "
          "(difference to postgres at p50)\n")
    base = results.hop.get("postgres", {}).get("query")
    for name in names:
        hop = {kind: quantiles(values) for kind, values in results.hop[name].items()}
        if hop["query"]["p50"] is None:
            continue
        extra = ""
        if base and name != "postgres":
            base_q = {kind: quantiles(results.hop["postgres"][kind])["p50"] for kind in ("query", "scope")}
            extra = (f"   (+{ms(hop['query']['p50'] - base_q['query'])}, "
                     f"+{ms(hop['scope']['p50'] - base_q['scope'])})")
        print(f"{name:10} query in open scope {ms(hop['query']['p50'])} / {ms(hop['query']['p95'])};  whole scope "
              f"(BEGIN, SET LOCAL, query, COMMIT) {ms(hop['scope']['p50'])} / {ms(hop['scope']['p95'])}{extra}")
    print(f"\nTenant growth: a small tenant's first cycle with {GROWTH_FROM} and with {TENANTS} tenants seeded "
          f"(median of {PROBES} tenants, ms)\n")
    speed = statistics.median(results.loops[TENANTS]) / statistics.median(results.loops[GROWTH_FROM])
    print(f"The box's speed: a reference loop of {statistics.median(results.loops[GROWTH_FROM]):.2f} s at the "
          f"{GROWTH_FROM}-tenant probes, {statistics.median(results.loops[TENANTS]):.2f} s at the {TENANTS}-tenant "
          f"probes (median of the rounds); 'adjusted' divides the ratio by that drift ({speed:.2f}).\n")
    print(f"{'backend':10} {'operation':18} {GROWTH_FROM:>8} {TENANTS:>8} {'ratio':>6} {'adjusted':>8}")
    for name in names:
        growth = results.growth[name]
        if not growth[TENANTS]:
            continue
        for op in [*OPERATIONS, "whole cycle"]:
            a, b = (_median_of(growth[level], op) for level in (GROWTH_FROM, TENANTS))
            ratio, adjusted = (f"{b / a:.2f}", f"{b / a / speed:.2f}") if a and b else ("-", "-")
            print(f"{name:10} {op:18} {ms(a):>8} {ms(b):>8} {ratio:>6} {adjusted:>8}")
    if results.messages:
        print("\nErrors (mixed workload and growth probes), by cause:")
        for (name, message), count in results.messages.items():
            print(f"  {name:10} {count:4} x {message}")


def reference_loop() -> float:
    """A shorter form of the machine-speed loop, run before each round of growth probes: the two levels are
    a minute apart, and this box's speed can double in that time."""
    started = time.perf_counter()
    total = 0
    for i in range(5_000_000):
        total += i
    return time.perf_counter() - started


def _median_of(cycles: list[dict], op: str) -> float | None:
    if op == "whole cycle":
        values = [sum(c.values()) for c in cycles if None not in c.values()]
    else:
        values = [c[op] for c in cycles if c.get(op) is not None]
    return statistics.median(values) if values else None


def main() -> None:
    args = parse_args()
    if args.stage:
        return child(args)
    print(machine_speed(), flush=True)
    names = [n.strip() for n in args.backends.split(",") if n.strip()]
    unknown = set(names) - set(BACKENDS)
    if unknown:
        sys.exit(f"unknown backends: {', '.join(sorted(unknown))}")
    backends = [Backend(name, args.port + 10 * i, args) for i, name in enumerate(names)]
    results = Results(names)
    try:
        # Set-up of all backends at once (nodes, migrate, the first tenants): measured nothing.
        started = time.perf_counter()
        with ThreadPoolExecutor(len(backends)) as pool:
            for backend, error in zip(backends, pool.map(_start, backends), strict=True):
                if error:
                    backend.broken = error
                    print(f"{backend.name}: did not start:\n{error}", flush=True)
        for backend in backends:
            backend.send("setup", first=list(range(GROWTH_FROM)))
        for backend in backends:
            answer = backend.receive()
            if "migrate" in answer:
                print(f"{backend.name}: migrated in {answer['migrate']:.0f} s, {GROWTH_FROM} tenants seeded in "
                      f"{answer['seed']:.0f} s", flush=True)
        print(f"set-up {time.perf_counter() - started:.0f} s", flush=True)
        measure(backends, results, args)
        report(results, names, args)
        print(f"\n{machine_speed()} (at the end)")
    finally:
        for backend in backends:
            backend.stop()


def _start(backend: Backend) -> str | None:
    try:
        backend.start()
    except Exception:
        return traceback.format_exc()
    return None


if __name__ == "__main__":
    main()
