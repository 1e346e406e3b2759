"""Helpers for statements that move thousands of rows at once (imports, matching runs, posting).

Django talks to psycopg through a client-side-binding cursor: parameters are quoted into the SQL text.
That is right for the ORM's small queries, but a chunk's worth of ids and amounts becomes a 100 KB
statement that Python escapes, formats and scans before sending (about 5 s of a 100k-payment run, all
of it holding the GIL the matcher thread needs). `bulk_cursor()` binds on the server instead: the SQL
stays short and each array goes as one parameter. It is a cursor on the same connection, so it works
inside the caller's transaction and tenant scope.
"""

from __future__ import annotations

from decimal import Decimal

import psycopg
from django.db import connection

_NUMBERS = frozenset((int, Decimal))


def bulk_cursor() -> psycopg.Cursor:
    connection.ensure_connection()
    return psycopg.Cursor(connection.connection)


def pg_array(values) -> str:
    """A Postgres array literal ('{1,2.50,NULL,"paid"}') for unnest(%s::numeric[]) and ANY(%s::bigint[]):
    thousands of values go as one text parameter, which costs far less than psycopg adapting each element."""
    values = values if isinstance(values, (list, tuple)) else list(values)
    if _NUMBERS.issuperset(map(type, values)):  # ids and amounts, the common case: no quoting to decide
        return "{" + ",".join(map(str, values)) + "}"
    return "{" + ",".join("NULL" if v is None else
                          '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(v, str) else
                          str(v) for v in values) + "}"
