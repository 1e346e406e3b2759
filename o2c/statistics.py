"""Table statistics after a bulk import, before the matching run that follows it.

Autovacuum analyses a table some time after it changed; a matching run starts as soon as an import commits.
Without statistics the planner took the run's per-chunk updates by id (unnest of a chunk's ids joined to
o2c_invoice or payments_payment) for joins against a few rows and walked a million: `apply_cash` after a
fresh import of 1M invoices and 100k payments took 113 s, against 38 s once the imported tables were analysed
(0.8 s). So an import of many rows analyses the tables it filled when it commits, ahead of the matching run
it starts.

The application role owns no table and PostgreSQL before 17 has no privilege to analyse one, so it calls
`o2c_refresh_statistics`, a SECURITY DEFINER function of the schema owner (created with the grants in
o2c.rls.sync) that analyses only the tables named in REFRESHABLE.

Of the payments tables it analyses the columns queries filter, join, group or sort on, not the wide free text
a matching run only reads (the entry's raw text, remittance text, names): those were half the ANALYZE of 100k
payments (0.25 of 0.5 s, on the import's critical path). An ANALYZE of some columns leaves the table's count
of changes since its last analysis as it was (PostgreSQL resets it only for all columns), so autovacuum still
analyses the whole table later, free text included.
"""

from __future__ import annotations

from collections.abc import Callable

from django.db import connection, transaction
from psycopg import sql

# Below this many rows an import leaves the statistics to autovacuum: a 10-payment intraday file must not pay
# for analysing a million invoices.
REFRESH_FROM_ROWS = 10_000
REFRESHABLE = ("o2c_customer", "o2c_invoice", "payments_payment", "payments_remittanceadvice",
               "payments_remittanceline")
FUNCTION = "o2c_refresh_statistics"
# Columns left to autovacuum's later analysis: read and shown, never in a condition, join or sort.
LEFT_OUT = {
    "payments_payment": ("raw", "remittance_text", "payer_name", "payer_account", "bank_code", "source_line"),
    "payments_remittanceadvice": ("raw", "unstructured", "payer_name", "payer_id", "payee_name", "source_line"),
    "payments_remittanceline": ("text", "adjustment_reason"),
}


def refresh_statistics_after_commit(tables: tuple[str, ...]) -> Callable[[int], None]:
    """Call first thing in an import's transaction (so that the refresh runs before the hooks registered later,
    the matching run's among them). Returns `stored(rows)`, to be told the rows the import wrote; once the
    transaction commits, the tables are analysed if they add up to REFRESH_FROM_ROWS."""
    unknown = set(tables) - set(REFRESHABLE)
    if unknown:
        raise ValueError(f"not a table whose statistics are refreshed: {', '.join(sorted(unknown))}")
    rows = [0]

    def refresh() -> None:
        if rows[0] >= REFRESH_FROM_ROWS:
            refresh_statistics(tables)

    transaction.on_commit(refresh, robust=True)  # statistics are an optimisation: never the import's failure

    def stored(n: int) -> None:
        rows[0] += n

    return stored


def refresh_statistics(tables: tuple[str, ...]) -> None:
    if connection.is_citus:
        return  # the shards live on the workers, which their own autovacuum analyses
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {FUNCTION}(%s::text[])", [list(tables)])


def function_sql(role: str) -> list[sql.Composable]:
    """The function and its grant, as the schema owner runs them (idempotent). The columns of a table with some
    LEFT_OUT are read from the catalogue when it runs, so a column added later is analysed without a new
    function."""
    allowed = sql.SQL(", ").join(sql.Literal(t) for t in REFRESHABLE)
    left_out = sql.SQL(", ").join(sql.Literal(f"{t}.{c}") for t, columns in LEFT_OUT.items() for c in columns)
    return [
        sql.SQL(
            "CREATE OR REPLACE FUNCTION {fn}(tables text[]) RETURNS void LANGUAGE plpgsql SECURITY DEFINER "
            "SET search_path = pg_catalog, public AS $fn$ DECLARE t text; cols text; BEGIN "
            "FOREACH t IN ARRAY tables LOOP "
            "IF NOT t = ANY (ARRAY[{allowed}]) THEN "
            "RAISE EXCEPTION 'o2c_refresh_statistics: % is not a table whose statistics it refreshes', t; END IF; "
            "cols := NULL; "
            "IF EXISTS (SELECT FROM unnest(ARRAY[{left_out}]::text[]) c WHERE split_part(c, '.', 1) = t) THEN "
            "SELECT string_agg(quote_ident(a.attname), ', ' ORDER BY a.attnum) INTO cols FROM pg_attribute a "
            "WHERE a.attrelid = format('public.%I', t)::regclass AND a.attnum > 0 AND NOT a.attisdropped "
            "AND NOT (t || '.' || a.attname) = ANY (ARRAY[{left_out}]::text[]); END IF; "
            "IF cols IS NULL THEN EXECUTE format('ANALYZE public.%I', t); "
            "ELSE EXECUTE format('ANALYZE public.%I (%s)', t, cols); END IF; "
            "END LOOP; END $fn$"
        ).format(fn=sql.Identifier(FUNCTION), allowed=allowed, left_out=left_out),
        sql.SQL("REVOKE ALL ON FUNCTION {}(text[]) FROM PUBLIC").format(sql.Identifier(FUNCTION)),
        sql.SQL("GRANT EXECUTE ON FUNCTION {}(text[]) TO {}").format(sql.Identifier(FUNCTION), sql.Identifier(role)),
    ]
