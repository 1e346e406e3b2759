"""Set-based writes for the batch paths of deductions (intake, research, triage): thousands of rows a task.

Measured with bench/triage_e2e.py (10,000 deductions from one remittance, 5 batches of 2,000):
- Django's `bulk_update` writes one `CASE WHEN id = ... THEN ...` per field with a branch per row, which
  Postgres walks for every row: quadratic in the batch (2,000 rows x 6 fields took ~2 s a batch).
  `update_columns` sends each column as one array, bound on the server, and joins on `unnest()`.
- `audit_events` (the ORM's bulk_create) quotes each JSON value in Python into the SQL text; `audit_rows`
  writes the same rows with one server-bound INSERT ... SELECT FROM unnest().
"""

from __future__ import annotations

import json
from datetime import datetime

from o2c.bulk import bulk_cursor, pg_array
from o2c.models import AuditEvent
from o2c.services.audit import _jsonable, audit_origin
from o2c.tenancy import current_tenant_id

from .models import Deduction


def _value(value):
    return value.isoformat() if isinstance(value, datetime) else value


def update_columns(rows: list[Deduction], columns: dict[str, str]) -> None:
    """UPDATE these deductions' `columns` ({column: SQL type}, e.g. {"status": "text", "evidence": "jsonb"})
    to the values the objects hold, in one statement."""
    if not rows:
        return
    names = list(columns)
    arrays = [[row.pk for row in rows]]
    for column in names:
        values = [_value(getattr(row, column)) for row in rows]
        if columns[column] == "jsonb":
            values = [json.dumps(v, ensure_ascii=False, separators=(",", ":"), default=str) for v in values]
        arrays.append(values)
    sets = ", ".join(f'"{c}" = t."{c}"::{columns[c]}' for c in names)
    unnest = ", ".join(["%s::bigint[]"] + ["%s::text[]"] * len(names))
    aliases = ", ".join(["id"] + [f'"{c}"' for c in names])
    with bulk_cursor() as cur:
        cur.execute(f"UPDATE {Deduction._meta.db_table} AS d SET {sets} FROM unnest({unnest}) AS t({aliases}) "  # noqa: S608
                    "WHERE d.id = t.id", [*map(pg_array, arrays)])


def audit_rows(items, *, actor=None) -> None:
    """The same rows as `o2c.services.audit.audit_events` ((action, obj, changes) triples), in one INSERT."""
    items = list(items)
    if not items:
        return
    actor_id, channel, ip, user_agent = audit_origin(actor)
    columns = (
        [action for action, _, _ in items],
        [obj._meta.model_name for _, obj, _ in items],
        [obj.pk for _, obj, _ in items],
        [str(obj)[:200] for _, obj, _ in items],
        [json.dumps({k: [_jsonable(v) for v in pair] for k, pair in (changes or {}).items()}, ensure_ascii=False)
         for _, _, changes in items],
    )
    with bulk_cursor() as cur:
        cur.execute(
            f"INSERT INTO {AuditEvent._meta.db_table} (tenant_id, created_at, actor_id, channel, ip, user_agent, "  # noqa: S608
            "action, object_type, object_id, object_repr, changes) "
            "SELECT %s, now(), %s::bigint, %s, %s::inet, %s, t.action, t.object_type, t.object_id, t.repr, "
            "t.changes::jsonb FROM unnest(%s::text[], %s::text[], %s::bigint[], %s::text[], %s::text[]) "
            "AS t(action, object_type, object_id, repr, changes)",
            [current_tenant_id(), actor_id, channel, ip, user_agent, *map(pg_array, columns)])
