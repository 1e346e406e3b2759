"""o2c on Citus: every tenant table distributed by tenant_id in one colocation group, everything else a
reference table.

Two routes reach that shape, and both end in the same catalog (the schema gate checks it):

- `distribute()` (the `citus_distribute` command) turns a migrated single-node database into a
  distributed one. Citus converts a plain table with a foreign key to a reference table into a "Citus
  local table", which cannot have an identity column and cannot be distributed afterwards; so the
  foreign keys are taken off first, the tables placed, and the keys put back, which Citus then accepts
  because every key between tenant tables includes tenant_id.
- On a database that is already a coordinator, the schema editor (`o2c.db`) places each table the
  moment a migration creates it, before the migration adds its keys; later migrations therefore work
  unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import connections, transaction
from psycopg import sql

from .rls import _constraint_name, tenant_models

# The colocation anchor: the first tenant table distributed; all others colocate with it.
ANCHOR = "o2c_customer"
TENANT_COLUMN = "tenant_id"


def returning_on_citus(using: str = "default") -> str:
    """A RETURNING clause for INSERT ... SELECT from a temporary (staging) table, on Citus only.

    Citus runs such an INSERT through the coordinator and writes the rows into the shards with COPY, which
    PostgreSQL refuses under row-level security ("COPY FROM not supported with row-level security"). With
    a RETURNING clause it instead ships the rows to the workers as intermediate results and runs
    INSERT ... SELECT on each shard, which the policies admit. On plain PostgreSQL: nothing (no rows sent
    back for nothing)."""
    return " RETURNING NULL" if connections[using].is_citus else ""


@contextmanager
def fan_out(reason: str, using: str = "default"):
    """A query that must read every tenant's shard, named by `reason` (grep `fan_out(` for all of them).

    The Citus test run gives the application role `citus.multi_task_query_log_level = 'error'`, so any
    other query that Citus would send to every shard fails its test. On plain PostgreSQL the setting is an
    inert placeholder. Needs a transaction (SET LOCAL)."""
    with connections[using].cursor() as cursor:
        cursor.execute("SELECT current_setting('citus.multi_task_query_log_level', true)")
        before = cursor.fetchone()[0]
        cursor.execute("SET LOCAL citus.multi_task_query_log_level = 'off'")
    try:
        yield reason
    finally:
        if not connections[using].needs_rollback:
            with connections[using].cursor() as cursor:
                # Back to the value before, not RESET: that would also drop a session's own setting (a
                # test's `rls_probe`) in favour of the role's.
                if before is None:
                    cursor.execute("RESET citus.multi_task_query_log_level")
                else:
                    cursor.execute("SELECT set_config('citus.multi_task_query_log_level', %s, true)", [before])


def tenant_tables() -> set[str]:
    return {m._meta.db_table for m in tenant_models()}


def is_tenant_model(model) -> bool:
    """Also true of a migration's historical model, which is not a TenantModel subclass."""
    if model._meta.db_table == "o2c_tenant":
        return False
    tenant = next((f for f in model._meta.concrete_fields if f.name == "tenant"), None)
    return tenant is not None and tenant.is_relation and tenant.related_model._meta.db_table == "o2c_tenant"


def public_tables(cursor) -> list[str]:
    cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                   "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') ORDER BY c.relname")
    return [row[0] for row in cursor.fetchall()]


def placements(cursor) -> dict[str, tuple[str, str | None, int]]:
    """table -> (citus table type, distribution column, colocation id) for every Citus table."""
    cursor.execute("SELECT table_name::text, citus_table_type, distribution_column, colocation_id "
                   "FROM citus_tables")
    return {name: (kind, column if column != "<none>" else None, coloc) for name, kind, column, coloc in cursor}


def shape_problems(cursor) -> list[str]:
    """What keeps this coordinator from the one shape o2c supports, read from the catalog: every table with
    a tenant_id hash-distributed by it in one colocation group, every other table a reference table, no
    Citus local or plain table left. Empty means distributed as designed (the schema gate asserts it)."""
    cursor.execute(
        "SELECT c.relname, EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid "
        "AND a.attname = %s AND NOT a.attisdropped) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> 'o2c_tenant'",
        [TENANT_COLUMN],
    )
    catalog = dict(cursor.fetchall())
    catalog["o2c_tenant"] = False
    placed, problems = placements(cursor), []
    groups = {placed[t][2] for t, tenant in catalog.items() if tenant and t in placed}
    for table, tenant in sorted(catalog.items()):
        kind, column, group = placed.get(table, ("plain", None, None))
        if tenant and (kind, column) != ("distributed", TENANT_COLUMN):
            problems.append(f"{table}: a tenant table that is {_described(kind, column)}, not distributed by "
                            f"{TENANT_COLUMN}")
        elif tenant and len(groups) > 1 and group != placed.get(ANCHOR, (None, None, None))[2]:
            problems.append(f"{table}: distributed outside {ANCHOR}'s colocation group")
        elif not tenant and kind != "reference":
            problems.append(f"{table}: a global table that is {_described(kind, column)}, not a reference table")
    return problems


def _described(kind: str, column: str | None) -> str:
    if kind == "plain":
        return "a plain table on the coordinator"
    if kind == "local":
        return "a Citus local table"
    return f"{kind} by {column}" if column else kind


@dataclass
class Report:
    referenced: list[str] = field(default_factory=list)
    distributed: list[str] = field(default_factory=list)
    keys_restored: int = 0

    def __str__(self) -> str:
        if not (self.referenced or self.distributed):
            return "already distributed: nothing to do"
        return (f"{len(self.referenced)} reference tables, {len(self.distributed)} tables distributed by "
                f"{TENANT_COLUMN}, {self.keys_restored} foreign keys restored")


def distribute(using: str = "owner") -> Report:
    """Idempotent: tables Citus already holds are left as they are."""
    report = Report()
    if not connections[using].is_citus:
        raise RuntimeError("this database has no Citus extension: not a Citus coordinator")
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        placed = placements(cursor)
        tenant = tenant_tables()
        todo = [t for t in public_tables(cursor) if t not in placed]
        if not todo:
            return report
        # One transaction, so a failure leaves the database as it was; placing a reference table and then
        # distributing tables in the same transaction needs Citus's sequential mode. The append-only
        # trigger only refuses statements, which is safe on every shard (see o2c.rls).
        cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        cursor.execute("SET LOCAL citus.enable_unsafe_triggers TO on")
        keys = _take_off_foreign_keys(cursor, todo)
        for table in todo:
            if table not in tenant:
                make_reference(cursor, table)
                report.referenced.append(table)
        for table in sorted(t for t in todo if t in tenant):
            make_distributed(cursor, table)
            report.distributed.append(table)
        for table, name, definition in keys:
            cursor.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} ").format(
                sql.Identifier(table), sql.Identifier(name)) + sql.SQL(definition))
        report.keys_restored = len(keys)
        configure_app_role(cursor)
    return report


def configure_app_role(cursor) -> None:
    """The tenant setting must reach the workers, where the shards' policies read it: Citus passes SET LOCAL
    on (o2c.tenancy sets the tenant that way) when the session asks for it."""
    cursor.execute(sql.SQL("ALTER ROLE {} IN DATABASE {} SET citus.propagate_set_commands = 'local'").format(
        sql.Identifier(settings.O2C_APP_DB_USER), sql.Identifier(cursor.connection.info.dbname)))


def _take_off_foreign_keys(cursor, tables: list[str]) -> list[tuple[str, str, str]]:
    """Drop every foreign key from or to the tables about to be placed; return them to be put back."""
    cursor.execute(
        """
        SELECT src.relname, c.conname, pg_get_constraintdef(c.oid)
        FROM pg_constraint c JOIN pg_class src ON src.oid = c.conrelid JOIN pg_class dst ON dst.oid = c.confrelid
        WHERE c.contype = 'f' AND (src.relname = ANY(%s) OR dst.relname = ANY(%s))
        ORDER BY src.relname, c.conname
        """,
        [tables, tables],
    )
    keys = cursor.fetchall()
    for table, name, _ in keys:
        cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table),
                                                                            sql.Identifier(name)))
    return keys


def make_reference(cursor, table: str) -> None:
    cursor.execute("SELECT create_reference_table(%s)", [table])


def make_distributed(cursor, table: str) -> None:
    """Distribute by tenant_id, colocated with the anchor (or starting the group when it is the anchor)."""
    _ensure_tenant_primary_key(cursor, table)
    cursor.execute("SELECT colocation_id FROM citus_tables WHERE table_name = %s::regclass", [ANCHOR])
    anchored = cursor.fetchone() is not None
    colocate_with = ANCHOR if anchored and table != ANCHOR else "default"
    cursor.execute("SELECT create_distributed_table(%s, %s, colocate_with => %s)",
                   [table, TENANT_COLUMN, colocate_with])


def _ensure_tenant_primary_key(cursor, table: str) -> None:
    """Citus needs the distribution column in the primary key; `o2c.rls` makes it (tenant_id, id) after
    migrate, which is too late for a table placed the moment a migration creates it."""
    from .rls import _primary_key_columns

    name, columns = _primary_key_columns(cursor, table)
    if columns and TENANT_COLUMN not in columns:
        cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(sql.Identifier(table),
                                                                            sql.Identifier(name)))
        cursor.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (tenant_id, id)").format(
            sql.Identifier(table), sql.Identifier(_constraint_name(table, "pkey"))))


def place_new_table(cursor, model) -> None:
    """Called by the schema editor right after CREATE TABLE, before the migration adds foreign keys.

    A tenant table that a migration creates without its tenant column (Django's autodetector adds the
    key in a later operation when models point at each other) is left in place until that column
    arrives: see `place_on_tenant_column`."""
    table = model._meta.db_table
    if is_tenant_model(model):
        make_distributed(cursor, table)
    elif table not in tenant_tables():
        make_reference(cursor, table)


def is_placed(cursor, table: str) -> bool:
    cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = %s::regclass)", [table])
    return cursor.fetchone()[0]
