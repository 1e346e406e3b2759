"""The cash-application export of a Citus cluster equals the single-node one (issue 14), end to end.

A seeded ledger of 20,000 invoices of 300 customers and a bank statement of 2,500 payments (the matcher's
benchmark generator, `bench/cashapp_data.py`) go through the real commands twice, each time into a fresh
database: `migrate`, `create_tenant`, `import_invoices`, `import_bank_file` (whose matching run starts after the
import, as configured by default), `apply_cash` (a second run, over what is still unapplied) and
`export_cash_application`. Once on the machine's single-node PostgreSQL, once on this test run's Citus cluster
with the application role as strict as in the rest of the Citus suite (a query sent to every shard fails).
The two exports must be the same file.

Runs in the Citus test run only (O2C_CITUS=1, see tests/citus_support.py).
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest
from django.conf import settings

from bench.cashapp_data import generate
from tests import citus_support
from tests.cashapp_support import Credit, camt053

pytestmark = pytest.mark.skipif(not citus_support.CITUS, reason="runs on the Citus cluster (O2C_CITUS=1)")

SEED, N_PAYMENTS, N_INVOICES, N_CUSTOMERS = 14, 2_500, 20_000, 300
TENANT = "equal"
SINGLE_NODE = "postgresql://postgres@127.0.0.1:5432"
INVOICE_COLUMNS = ["invoice_number", "customer_id", "customer_name", "issue_date", "due_date", "amount", "currency",
                   "po_number", "discount_percent", "discount_due_date"]


def _reference(payment_id: int) -> str:
    return f"EQ{payment_id:06d}"


def _write_inputs(folder: Path) -> tuple[Path, Path, dict[str, Decimal]]:
    """invoices.csv and statement.xml from the generator; returns them and each payment's amount by reference."""
    data = generate(seed=SEED, n_payments=N_PAYMENTS, n_invoices=N_INVOICES, n_customers=N_CUSTOMERS)
    names = {c.id: c.name for c in data.customers}
    invoices = folder / "invoices.csv"
    with invoices.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(INVOICE_COLUMNS)
        for i in data.invoices:
            writer.writerow([i.number, f"C{i.customer_id}", names[i.customer_id], i.issue_date.isoformat(),
                             i.due_date.isoformat(), f"{i.amount:.2f}", i.currency, i.po_number,
                             f"{i.discount_percent}" if i.discount_percent else "",
                             i.discount_due_date.isoformat() if i.discount_due_date else ""])
    # Each payment as the bank would send it: the payer's name and account, the free text, and the structured
    # remittance lines (invoice number and amount paid) where the generator made some.
    credits = [Credit(reference=_reference(p.id), amount=p.amount, payer=p.payer_name, text=p.text,
                      invoices=tuple((line.reference, line.amount_paid) for line in p.lines),
                      payer_iban=p.payer_account, date=p.date.isoformat())
               for p in data.payments]
    assert all(p.currency == "USD" for p in data.payments)
    statement = folder / "statement.xml"
    statement.write_bytes(camt053(credits, statement_id="EQUAL-1", currency="USD"))
    return invoices, statement, {_reference(p.id): p.amount for p in data.payments}


def _manage(database_url: str, *args: str) -> str:
    """A management command in its own process, as an operator runs it: REDIS_URL unset, so Celery runs the
    import's matching run eagerly inside `import_bank_file` (it has ended when the command returns, so it
    cannot race `apply_cash`)."""
    env = {**os.environ, "DATABASE_URL": database_url, "O2C_LOG_LEVEL": "WARNING"}
    for name in ("O2C_DB_NAME", "REDIS_URL"):  # the test process points these at its own database and broker
        env.pop(name, None)
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=citus_support.ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"manage.py {' '.join(args)} on {database_url}:\n{result.stderr[-3000:]}"
    return result.stdout


def _pipeline(database_url: str, invoices: Path, statement: Path, out: Path, strict=None) -> dict:
    """The whole day on one database; returns what the commands said (their output names no ids)."""
    said = {"migrate": _manage(database_url, "migrate", "-v0")}
    if strict is not None:
        strict()
    said["tenant"] = _manage(database_url, "create_tenant", TENANT, "--name", "Equal Industrial")
    said["invoices"] = _manage(database_url, "import_invoices", "--tenant", TENANT, str(invoices))
    said["bank_file"] = _manage(database_url, "import_bank_file", "--tenant", TENANT, str(statement))
    said["apply_cash"] = _manage(database_url, "apply_cash", "--tenant", TENANT)
    _manage(database_url, "export_cash_application", "--tenant", TENANT, "--out", str(out))
    return said


def _drop(dsn: str, name: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text(), newline="")))


def _first_difference(a: list, b: list) -> str:
    for n, (x, y) in enumerate(zip(a, b, strict=False), start=1):
        if x != y:
            return f"line {n}: single node {x} / Citus {y}"
    return f"lengths differ: single node {len(a)} lines, Citus {len(b)}"


def test_the_export_on_citus_equals_the_single_node_export(django_db_setup, tmp_path):
    invoices, statement, amounts = _write_inputs(tmp_path)
    clusters, cluster = citus_support.cluster_module(), citus_support._started[0]
    name = f"o2c_export_equal_{os.getpid()}"
    single_url, citus_url = f"{SINGLE_NODE}/{name}", cluster.url(name)

    def strict():
        # As start_cluster does for the suite's database: the app role's fan-out queries fail.
        with psycopg.connect(citus_url, autocommit=True) as conn:
            conn.execute(f"ALTER ROLE {settings.O2C_APP_DB_USER} IN DATABASE \"{name}\" "
                         "SET citus.multi_task_query_log_level = 'error'")

    _drop(f"{SINGLE_NODE}/postgres", name)
    with psycopg.connect(f"{SINGLE_NODE}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    clusters.create_database(cluster, name)
    try:
        # The two databases are independent: both days run at once, halving the wall time.
        with ThreadPoolExecutor(2) as pool:
            single = pool.submit(_pipeline, single_url, invoices, statement, tmp_path / "single.csv")
            distributed = pool.submit(_pipeline, citus_url, invoices, statement, tmp_path / "citus.csv", strict)
            said_single, said_citus = single.result(), distributed.result()
    finally:
        _drop(f"{SINGLE_NODE}/postgres", name)
        for node in cluster.nodes:
            _drop(node.dsn(), name)

    # Nothing to normalise: the export's columns (payment_reference, invoice_number, applied_amount,
    # deduction_amount, status) carry no database id, timestamp or run id, and its order is defined (payments in
    # the order the import created them, a payment's applications in the order they were posted), so the two
    # files must be equal byte for byte. The commands' summaries (counts, no ids) must agree too.
    exported, on_citus = _rows(tmp_path / "single.csv"), _rows(tmp_path / "citus.csv")
    assert exported == on_citus, _first_difference(exported, on_citus)
    assert (tmp_path / "single.csv").read_bytes() == (tmp_path / "citus.csv").read_bytes()
    assert said_single == said_citus

    # And it is not a trivial file: every payment is there, its rows sum to its amount, most were applied.
    header, *rows = exported
    assert header == ["payment_reference", "invoice_number", "applied_amount", "deduction_amount", "status"]
    totals, statuses = defaultdict(Decimal), defaultdict(set)
    for reference, _number, applied, _deduction, status in rows:
        totals[reference] += Decimal(applied)
        statuses[reference].add(status)
    assert totals == amounts
    applied = sum("applied" in s for s in statuses.values())
    assert applied > 0.6 * N_PAYMENTS, f"only {applied} of {N_PAYMENTS} payments applied"
    kinds = Counter(status for *_, status in rows)
    assert kinds["suggested"] > 0 and kinds["unapplied"] > 0, kinds
    assert f"{N_PAYMENTS} payments created" in said_citus["bank_file"]
