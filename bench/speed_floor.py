"""The issue-12 speed targets against the least this box could do with the same rows: each command of the
independent benchmark, run for real, next to Postgres storing exactly the rows that command stored with no o2c
code in the way, the least Python that reads the same file, and o2c's matcher alone; all in one run, so the
ratios hold whatever the hour (see bench/README.md, "speed_floor.py").

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/speed_floor.py \
        --book DIR [--format camt053]

DIR holds a book written by `bench/cashapp_independent.py ... --keep DIR --generate-only` (invoices.csv and
payments.<format>.*). "Storing the same rows" copies what the command wrote (found by its rows' xmin) out of
its database, untimed, into a copy of the database as it was before the command, and times only the set-based
statements that put them in place (INSERT ... SELECT, UPDATE ... FROM, one transaction, the commit with its
deferred foreign-key checks), as the superuser: the schema's indexes, constraints and foreign keys, no
row-level security, no parsing, no matching. CPU seconds are read from /proc (Postgres must run on this
machine): the backend's own, this process's own, and the whole machine's while a command ran.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.cashapp_independent import TENANT, _base_db, _url, run, server_settings  # noqa: E402
from bench.invoice_index_cost import backend_cpu_seconds  # noqa: E402
from bench.invoice_list import machine_speed  # noqa: E402

TARGETS = {"import_invoices": 10.0, "import_bank_file": 3.0, "apply_cash": 15.0}


def connect(db: str):
    import psycopg

    return psycopg.connect(_url(db), autocommit=True)


def copy_database(source: str, target: str) -> None:
    with connect("postgres") as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{target}" TEMPLATE "{source}"')
        conn.execute("CHECKPOINT")  # the copy's writes are not charged to what comes next


def next_xid(db: str) -> int:
    """The 32-bit id the next transaction of the cluster gets: rows a command writes after this have an xmin
    at least this (modulo 2^32)."""
    with connect(db) as conn:
        return conn.execute("SELECT txid_current() % 4294967296").fetchone()[0] + 1


# --- what a command wrote, out of its database and into a copy of the one before ----------------------------

def written_rows(db: str, since_xid: int) -> dict[str, bytes]:
    """Every table's rows written at or after `since_xid` (inserted or updated), as binary COPY data; tables
    the command did not write are left out. (No command measured here deletes rows.)"""
    out = {}
    written = f"age(xmin) <= age(({since_xid})::text::xid)"
    with connect(db) as conn:
        tables = [r[0] for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                             "ORDER BY tablename").fetchall()]
        for table in tables:
            if not conn.execute(f"SELECT EXISTS (SELECT 1 FROM {table} WHERE {written})").fetchone()[0]:
                continue
            buf = io.BytesIO()
            with conn.cursor().copy(f"COPY (SELECT * FROM {table} WHERE {written}) TO STDOUT (FORMAT binary)") as copy:
                for block in copy:
                    buf.write(block)
            out[table] = buf.getvalue()
    return out


def stage(conn, rows: dict[str, bytes]) -> dict[str, tuple[int, int]]:
    """Each table's written rows into a temporary table of the same columns, split into the rows the table
    does not have yet (new_<table>) and those it has (upd_<table>), by id; untimed."""
    counts = {}
    for table, data in rows.items():
        conn.execute(f"CREATE TEMP TABLE all_{table} (LIKE {table})")
        with conn.cursor().copy(f"COPY all_{table} FROM STDIN (FORMAT binary)") as copy:
            copy.write(data)
        conn.execute(f"CREATE TEMP TABLE new_{table} AS SELECT a.* FROM all_{table} a "
                     f"WHERE NOT EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.id)")
        conn.execute(f"CREATE TEMP TABLE upd_{table} AS SELECT a.* FROM all_{table} a "
                     f"WHERE EXISTS (SELECT 1 FROM {table} t WHERE t.id = a.id)")
        for kind in ("new", "upd"):
            conn.execute(f"ANALYZE {kind}_{table}")
        counts[table] = tuple(conn.execute(f"SELECT count(*) FROM {kind}_{table}").fetchone()[0]
                              for kind in ("new", "upd"))
    return counts


def columns(conn, table: str) -> list[str]:
    """The columns a statement may write (a generated column is computed by Postgres), id last."""
    return [r[0] for r in conn.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = %s AND is_generated = 'NEVER' "
        "ORDER BY column_name = 'id', ordinal_position", [table]).fetchall()]


def store(db: str, rows: dict[str, bytes]) -> dict:
    """Time Postgres putting the staged rows in place: updates first (by id, every column), then inserts, in
    the given table order, one transaction; the commit runs the deferred foreign-key checks."""
    with connect(db) as conn:
        counts = stage(conn, rows)
        cols_of = {table: columns(conn, table) for table in rows}
        cpu, started = backend_cpu_seconds(conn), time.perf_counter()
        with conn.transaction():
            for table in rows:
                cols = cols_of[table]
                if counts[table][1]:
                    values = ", ".join("u." + c for c in cols[:-1])
                    conn.execute(f"UPDATE {table} t SET ({', '.join(cols[:-1])}) = (ROW({values})) "
                                 f"FROM upd_{table} u WHERE t.id = u.id")
                if counts[table][0]:
                    conn.execute(f"INSERT INTO {table} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM new_{table}")
        return {"seconds": time.perf_counter() - started, "postgres_cpu": backend_cpu_seconds(conn) - cpu,
                "rows": {t: {"inserted": c[0], "updated": c[1]} for t, c in counts.items() if any(c)}}


# --- the least a reader needs ---------------------------------------------------------------------------

def csv_copy(db: str, path: Path) -> dict:
    """Postgres's own COPY of the invoice CSV into a table of text columns, no index: the issue's reference."""
    with connect(db) as conn:
        header = path.open().readline().strip().split(",")
        conn.execute(f"CREATE TABLE raw_invoices ({', '.join(f'{c} text' for c in header)})")
        cpu, started = backend_cpu_seconds(conn), time.perf_counter()
        with conn.cursor().copy("COPY raw_invoices FROM STDIN (FORMAT csv, HEADER)") as copy, path.open("rb") as f:
            while block := f.read(1 << 20):
                copy.write(block)
        return {"seconds": time.perf_counter() - started, "postgres_cpu": backend_cpu_seconds(conn) - cpu}


def csv_read(path: Path) -> dict:
    """Every row of the invoice CSV read and its amounts and dates converted: what any importer's Python must
    do at least."""
    import csv
    from datetime import date
    from decimal import Decimal

    cpu = time.process_time()
    with path.open(newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        amount, issued, due = header.index("amount"), header.index("issue_date"), header.index("due_date")
        n = 0
        for row in reader:
            Decimal(row[amount]), date.fromisoformat(row[issued]), date.fromisoformat(row[due])
            n += 1
    return {"cpu": time.process_time() - cpu, "rows": n}


def bank_parse(path: Path) -> dict:
    """o2c's parser alone over the bank file (no storing), and the bare tokenizing any reader needs: expat
    through a camt file with no handler set (no tree, no strings made); a BAI2 or MT940 file split into lines,
    each line at its commas."""
    from xml.parsers import expat

    from payments.parsers import parse_bank_file

    data = path.read_bytes()
    cpu = time.process_time()
    parsed = parse_bank_file(data, file_name=path.name)
    o2c = time.process_time() - cpu
    cpu = time.process_time()
    if data.lstrip().startswith(b"<"):
        expat.ParserCreate().Parse(data, True)
    else:
        [line.split(b",") for line in data.splitlines()]
    return {"o2c_parser_cpu": o2c, "tokenize_cpu": time.process_time() - cpu,
            "payments": sum(len(s.entries) for s in parsed.statements)}


def matcher_alone() -> None:
    """(In a child, with Django set up on the database before the run.) The run's read of the open ledger into
    bare tuples (its own query, nothing built from the rows), then o2c's matcher alone: the index built from the
    open ledger and every payment matched as the run does, chunk by chunk; nothing written."""
    import django

    django.setup()
    from django.db import connection

    from cashapp import records
    from cashapp.matching import MatchIndex, match_payments
    from o2c.ledger.status import INVOICE_OUTSTANDING
    from o2c.runtime import interpreter_tuned_for_bulk_work
    from o2c.services.tenants import tenant_by_slug
    from o2c.tenancy import tenant_context
    from payments.models import Payment

    tenant = tenant_by_slug(TENANT)
    times = {}
    with tenant_context(tenant), interpreter_tuned_for_bulk_work():
        with connection.cursor() as cur:
            pg = backend_cpu_seconds(connection.connection)
            cpu, started = time.process_time(), time.perf_counter()
            cur.execute(records.OPEN_LEDGER_SQL, [tenant.pk, list(INVOICE_OUTSTANDING)])
            times["tuples_rows"] = len(cur.fetchall())
            times["tuples_seconds"] = time.perf_counter() - started
            times["tuples_python_cpu"] = time.process_time() - cpu
            times["tuples_postgres_cpu"] = backend_cpu_seconds(connection.connection) - pg
        cpu = time.process_time()
        customers, invoices = records.customer_records(), records.open_invoice_records()
        times["read_ledger_cpu"] = time.process_time() - cpu
        cpu = time.process_time()
        index = MatchIndex.build(customers, invoices)
        times["build_index_cpu"] = time.process_time() - cpu
        settings = records.match_settings()
        ids = list(Payment.objects.order_by("id").values_list("id", flat=True))
        times["read_payments_cpu"] = times["match_cpu"] = 0.0
        for start in range(0, len(ids), 5000):
            cpu = time.process_time()
            chunk = records.payment_records(ids[start:start + 5000])
            times["read_payments_cpu"] += time.process_time() - cpu
            cpu = time.process_time()
            match_payments(chunk, index, settings)
            times["match_cpu"] += time.process_time() - cpu
    print("@@" + json.dumps(times))


def command(db: str, *args: str) -> dict:
    seconds, rss, out, machine = run(db, *args)
    return {"seconds": seconds, "machine_cpu": machine, "peak_mib": rss, "output": out.splitlines()[-1][:100]}


# --- the run ----------------------------------------------------------------------------------------------

def measure(book: Path, fmt: str) -> dict:
    bank = next(book.glob(f"payments.{fmt}.*"))
    base = _base_db()
    # Each command runs on a copy of the state the one before left, which stays as it was: what a command
    # wrote is then stored again, by Postgres alone, into another copy of the state it started from.
    empty, invoiced, banked, applied, scratch = dbs = tuple(f"{base}_floor_{s}" for s in (
        "empty", "invoiced", "banked", "applied", "scratch"))
    steps = ((empty, invoiced, "import_invoices", ("--tenant", TENANT, str(book / "invoices.csv"))),
             (invoiced, banked, "import_bank_file", ("--no-match", "--tenant", TENANT, str(bank))),
             (banked, applied, "apply_cash", ("--tenant", TENANT)))
    r: dict = {"format": fmt}
    try:
        copy_database("template0", empty)
        run(empty, "migrate", "--verbosity", "0")
        run(empty, "create_tenant", TENANT, "--name", "Speed floor")
        wrote = {}
        for before, after, name, args in steps:
            copy_database(before, after)
            mark = next_xid(after)
            r[name] = command(after, name, *args)
            wrote[name] = written_rows(after, mark)
        # A command's start-up alone: Django and the app loaded, the database reached, nothing done.
        r["startup"] = command(empty, "shell", "-c",
                               "from django.db import connection; connection.ensure_connection()")
        for before, _, name, _ in steps:
            copy_database(before, scratch)
            r[f"store:{name}"] = store(scratch, wrote[name])
        r["csv_copy"] = csv_copy(scratch, book / "invoices.csv")
        r["csv_read"] = csv_read(book / "invoices.csv")
        r["bank_parse"] = bank_parse(bank)
        _, _, out, _ = run(banked, "-m", "bench.speed_floor", "--matcher-alone")
        r["matcher_alone"] = json.loads(out.rsplit("@@", 1)[1].splitlines()[0])
    finally:
        with connect("postgres") as conn:
            for db in dbs:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
    return r


def least_wall(startup: float, parts: dict[str, float], side_by_side: list[str]) -> float:
    """The least wall time of work made of these CPU parts on this machine's cores: at least their sum spread over
    every core, and at least the largest of the parts that could run side by side (each is one process or one
    Postgres backend: it takes one core at a time); plus a command's start-up."""
    cores = os.cpu_count() or 1
    return startup + max(sum(parts.values()) / cores, *(parts[k] for k in side_by_side))


def report(r: dict) -> str:
    start = r["startup"]["seconds"]
    inv, bank, app = r["store:import_invoices"], r["store:import_bank_file"], r["store:apply_cash"]
    m, parse = r["matcher_alone"], r["bank_parse"]
    read = {"rows": m["tuples_rows"], "seconds": m["tuples_seconds"], "postgres_cpu": m["tuples_postgres_cpu"],
            "python_cpu": m["tuples_python_cpu"]}
    matcher = m["read_ledger_cpu"] + m["build_index_cpu"] + m["read_payments_cpu"] + m["match_cpu"]

    def cmd(name: str) -> str:
        c = r[name]
        return (f"{name:<17}target {TARGETS[name]:4.1f} s | o2c {c['seconds']:5.1f} s "
                f"(machine CPU {c['machine_cpu']:5.1f} s, peak {c['peak_mib']} MiB)")

    def rows(store: dict, table: str) -> str:
        counts = store["rows"].get(table, {"inserted": 0, "updated": 0})
        return f"{counts['inserted'] + counts['updated']:,}"

    inv_parts = {"postgres": inv["postgres_cpu"], "reader": r["csv_read"]["cpu"]}
    bank_parts = {"postgres": bank["postgres_cpu"], "reader": parse["tokenize_cpu"]}
    run_parts = {"postgres": app["postgres_cpu"] + read["postgres_cpu"], "python": read["python_cpu"]}
    pair = ["postgres", "reader"]
    bank_least, bank_o2c = (least_wall(start, bank_parts, pair),
                            least_wall(start, {**bank_parts, "reader": parse["o2c_parser_cpu"]}, pair))
    run_least, run_o2c = (least_wall(start, run_parts, ["postgres", "python"]),
                          least_wall(start, {**run_parts, "python": matcher}, ["postgres", "python"]))
    written = ", ".join(f"{t} {v['inserted']:,}+{v['updated']:,}" for t, v in app["rows"].items())
    return "\n".join([
        f"\n=== {r['format']}: each command as run, and the least the same rows could take here "
        f"({os.cpu_count()} cores; a command's start-up alone {start:.2f} s)",
        cmd("import_invoices"),
        f"    Postgres storing its {rows(inv, 'o2c_invoice')} invoices and {rows(inv, 'o2c_customer')} customers "
        f"(and its other rows): {inv['seconds']:.1f} s, {inv['postgres_cpu']:.1f} CPU-s; Postgres's COPY of the CSV "
        f"into bare text columns {r['csv_copy']['seconds']:.1f} s",
        f"    reading the CSV in Python (csv, Decimal, dates; no checks) {r['csv_read']['cpu']:.1f} CPU-s",
        f"    least wall time of these parts: {least_wall(start, inv_parts, pair):.1f} s",
        cmd("import_bank_file"),
        f"    Postgres storing its {rows(bank, 'payments_payment')} payments and "
        f"{rows(bank, 'payments_remittanceline')} remittance lines (and its other rows): {bank['seconds']:.1f} s, "
        f"{bank['postgres_cpu']:.1f} CPU-s",
        f"    the file tokenized alone {parse['tokenize_cpu']:.2f} CPU-s; o2c's parser alone "
        f"{parse['o2c_parser_cpu']:.1f} CPU-s ({parse['payments']:,} entries)",
        f"    least wall time of these parts: {bank_least:.1f} s; with o2c's parser {bank_o2c:.1f} s",
        cmd("apply_cash"),
        f"    Postgres storing what the run wrote (rows inserted+updated: {written}): {app['seconds']:.1f} s, "
        f"{app['postgres_cpu']:.1f} CPU-s",
        f"    the {read['rows']:,} open invoices read into tuples: {read['seconds']:.1f} s "
        f"(Postgres {read['postgres_cpu']:.1f}, Python {read['python_cpu']:.1f} CPU-s)",
        f"    o2c's matcher alone, nothing written: {matcher:.1f} CPU-s (ledger read into records "
        f"{m['read_ledger_cpu']:.1f}, index {m['build_index_cpu']:.1f}, payments read {m['read_payments_cpu']:.1f}, "
        f"matching {m['match_cpu']:.1f})",
        f"    least wall time: reading and storing alone {run_least:.1f} s; with o2c's matcher {run_o2c:.1f} s",
    ])


def main() -> None:
    if "--matcher-alone" in sys.argv:
        matcher_alone()
        return
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--book", type=Path, required=True, help="a book written by cashapp_independent.py --keep")
    ap.add_argument("--format", default="camt053", help="the bank file of the book to import (default camt053)")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    if not (args.book / "invoices.csv").exists() or not list(args.book.glob(f"payments.{args.format}.*")):
        ap.error(f"{args.book} has no invoices.csv or payments.{args.format}.*: write one with "
                 "bench/cashapp_independent.py --keep DIR --generate-only")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "o2c.settings")
    print(machine_speed())
    print(server_settings())
    print("reproduce: " + " ".join(["bench/speed_floor.py", *sys.argv[1:]]))
    result = measure(args.book, args.format)
    print(report(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
