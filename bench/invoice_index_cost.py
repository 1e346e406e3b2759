"""What each index on o2c_invoice costs a million-row import: the Postgres CPU of inserting the invoices already
stored in a database into a scratch copy of the table, once per set of indexes, the way the import writes them
(INSERT ... SELECT in chunks of 50,000, file order, one transaction). Run `bench/import_invoices.py` first, whose
database it reads (it changes nothing there but the scratch table, which it drops).

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/o2c .venv/bin/python bench/invoice_index_cost.py \
        [--db o2c_bench_invoices] [--order "ORDER BY due_date"] [variant ...]

As the database owner, without row-level security or the foreign key (whose per-row checks at commit cost the
same whatever the indexes): only the heap and index inserts are timed. The CPU seconds are the backend's own,
read from /proc (so the server must run on this machine); on a shared box they move much less than the wall
time. Alternate variants in one run: between runs the box drifts.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from urllib.parse import urlsplit, urlunsplit

# Narrower forms of the two ordered indexes, to compare with the schema's (replacing the index of that name).
NARROWER = {
    "customer-only": ("invoice_customer_due_idx", "CREATE INDEX ON o2c_invoice (tenant_id, customer_id)"),
    "due-only": ("invoice_due_idx", "CREATE INDEX ON o2c_invoice (tenant_id, due_date)"),
}
COLUMNS = ("tenant_id, number, customer_id, issue_date, due_date, amount, currency, open_balance, po_number, "
           "discount_percent, discount_due_date, status, import_batch_id, created_at, updated_at")
CHUNK = 50_000


def backend_cpu_seconds(conn) -> float:
    with open(f"/proc/{conn.info.backend_pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def variant_indexes(conn, name: str) -> list[str]:
    """The CREATE INDEX statements of a variant: "schema" (the table's indexes as migrated, read from the
    database, so the variant follows the schema), "heap-only", "without-<index name>", or one of NARROWER."""
    schema = dict(conn.execute("SELECT indexrelid::regclass::text, pg_get_indexdef(indexrelid) FROM pg_index "
                               "WHERE indrelid = 'o2c_invoice'::regclass ORDER BY indexrelid").fetchall())
    if name == "schema":
        return list(schema.values())
    if name == "heap-only":
        return []
    if name.startswith("without-") and name.removeprefix("without-") in schema:
        return [d for n, d in schema.items() if n != name.removeprefix("without-")]
    if name in NARROWER:
        replaced, definition = NARROWER[name]
        if replaced not in schema:  # renamed by a migration: the variant would silently be the schema's own
            raise SystemExit(f"{name} replaces {replaced}, which o2c_invoice no longer has")
        return [definition if n == replaced else d for n, d in schema.items()]
    raise SystemExit(f"unknown variant {name}: schema, heap-only, {', '.join(NARROWER)}, or without- and one of "
                     f"{', '.join(schema)}")


def on_scratch_table(definition: str) -> str:
    """A CREATE INDEX of o2c_invoice (as pg_get_indexdef gives it), unnamed, on the scratch table instead."""
    scratch, found = re.subn(r" INDEX (\S+ )?ON (public\.)?o2c_invoice ", " INDEX ON bench_invoice_copy ", definition)
    if found != 1:
        raise ValueError(f"not an index of o2c_invoice: {definition}")
    return scratch


def run(conn, indexes: list[str], order: str) -> tuple[float, float, str]:
    conn.execute("DROP TABLE IF EXISTS bench_invoice_copy")  # what an interrupted run left
    # The table's own storage options (its fillfactor leaves room for HOT updates of balances): LIKE omits them.
    options = conn.execute("SELECT coalesce(array_to_string(reloptions, ', '), '') FROM pg_class "
                           "WHERE oid = 'o2c_invoice'::regclass").fetchone()[0]
    conn.execute("CREATE TABLE bench_invoice_copy (LIKE o2c_invoice INCLUDING DEFAULTS INCLUDING IDENTITY)"
                 + (f" WITH ({options})" if options else ""))
    for definition in indexes:
        conn.execute(on_scratch_table(definition))
    low, high = conn.execute("SELECT min(id), max(id) FROM o2c_invoice").fetchone()
    conn.execute("CHECKPOINT")  # each variant starts with as few dirty buffers as the others
    cpu, started = backend_cpu_seconds(conn), time.perf_counter()
    with conn.transaction():
        for start in range(low, high + 1, CHUNK):
            conn.execute(
                f"INSERT INTO bench_invoice_copy ({COLUMNS}) SELECT {COLUMNS} FROM o2c_invoice "  # noqa: S608 - constants
                f"WHERE id >= %s AND id < %s {order}", [start, start + CHUNK])
    cpu, wall = backend_cpu_seconds(conn) - cpu, time.perf_counter() - started
    sizes = conn.execute("SELECT string_agg(pg_size_pretty(pg_relation_size(indexrelid)), ', ' ORDER BY indexrelid) "
                         "FROM pg_index WHERE indrelid = 'bench_invoice_copy'::regclass").fetchone()[0]
    conn.execute("DROP TABLE bench_invoice_copy")
    return cpu, wall, sizes or "-"


def main() -> None:
    import psycopg

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--db", default="o2c_bench_invoices")
    p.add_argument("--order", default="", help='e.g. "ORDER BY due_date": each chunk sorted before its insert')
    p.add_argument("variants", nargs="*",
                   default=["schema", "without-invoice_customer_due_idx", "without-invoice_due_idx", "schema"],
                   help="schema, heap-only, without-<index name>, " + ", ".join(NARROWER))
    args = p.parse_args()
    parts = urlsplit(os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/o2c"))
    url = urlunsplit((parts.scheme, parts.netloc, f"/{args.db}", parts.query, ""))
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute("SELECT count(*) FROM o2c_invoice").fetchone()[0]
        print(f"{rows:,} invoices from {args.db}, chunks of {CHUNK:,} {args.order or '(file order)'}")
        for name in args.variants:
            cpu, wall, sizes = run(conn, variant_indexes(conn, name), args.order)
            print(f"  {name:34} Postgres CPU {cpu:5.2f} s, wall {wall:5.2f} s; index sizes: {sizes}", flush=True)


if __name__ == "__main__":
    main()
