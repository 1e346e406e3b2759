"""Helpers for statements that move thousands of rows at once (imports, matching runs, posting).

Django talks to psycopg through a client-side-binding cursor: parameters are quoted into the SQL text.
That is right for the ORM's small queries, but a chunk's worth of ids and amounts becomes a 100 KB
statement that Python escapes, formats and scans before sending (about 5 s of a 100k-payment run, all
of it holding the GIL the matcher thread needs). `bulk_cursor()` binds on the server instead: the SQL
stays short and each array goes as one parameter. It is a cursor on the same connection, so it works
inside the caller's transaction and tenant scope.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal

import psycopg
from django.db import connection

_NUMBERS = frozenset((int, Decimal))
_TEXT = frozenset((str,))


def bulk_cursor() -> psycopg.Cursor:
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def pg_array(values) -> str:
    """A Postgres array literal ('{1,2.50,NULL,"paid"}') for unnest(%s::numeric[]) and ANY(%s::bigint[]):
    thousands of values go as one text parameter, which costs far less than psycopg adapting each element."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    if _NUMBERS.issuperset(map(type, values)):  # ids and amounts, the common case: no quoting to decide
        return "{" + ",".join(map(str, values)) + "}"
    if _TEXT.issuperset(map(type, values)):  # statuses and currencies: quoted, escaped only where needed (rare)
        if '"' not in (joined := "\0".join(values)) and "\\" not in joined:
            return '{"' + '","'.join(values) + '"}'
    return "{" + ",".join("NULL" if v is None else
                          '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(v, str) else
                          str(v) for v in values) + "}"


def update_columns(model, rows: list, columns: dict[str, str]) -> None:
    """UPDATE the tenant's `rows` of `model`, setting `columns` ({column: SQL type}, e.g. {"status": "text",
    "evidence": "jsonb"}) to the values the objects hold, in one statement: each column goes as one array,
    bound on the server and joined on unnest(). Django's `bulk_update` writes a `CASE WHEN id = ...` per field
    with a branch per row, which Postgres walks for every row: quadratic in the batch (2,000 rows x 6 fields
    took ~2 s, bench/triage_e2e.py)."""
    if not rows:
        return
    from .tenancy import current_tenant_id

    names = list(columns)
    arrays = [[row.pk for row in rows]]
    for column in names:
        values = [getattr(row, column) for row in rows]
        values = [v.isoformat() if isinstance(v, datetime) else v for v in values]
        if columns[column] == "jsonb":
            values = [json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str) for v in values]
        arrays.append(values)
    # Each array typed as its column (not text cast per row): a text -> timestamptz cast depends on the
    # session's time zone (STABLE), which Citus refuses to push to the shards with a column reference.
    sets = ", ".join(f'"{c}" = t."{c}"' for c in names)
    unnest = ", ".join(["%s::bigint[]"] + [f"%s::{columns[c]}[]" for c in names])
    aliases = ", ".join(["id"] + [f'"{c}"' for c in names])
    with bulk_cursor() as cur:
        cur.execute(f"UPDATE {model._meta.db_table} AS r SET {sets} FROM unnest({unnest}) AS t({aliases}) "  # noqa: S608
                    "WHERE r.tenant_id = %s AND r.id = t.id", [*map(pg_array, arrays), current_tenant_id()])
