"""Database-side tenancy: row-level security, composite keys and the application role.

Run after every `migrate` (post_migrate, as the schema owner) and idempotent, so a tenant model added
by any later app gets the same protection without anyone remembering to write it:

- ENABLE and FORCE row-level security with a `tenant_isolation` policy on `o2c.tenant_id`;
- PRIMARY KEY (tenant_id, id), and FOREIGN KEY (tenant_id, x_id) REFERENCES x (tenant_id, id) for
  every `TenantForeignKey`, so no row can point at another tenant's row (and the schema is ready to
  be distributed by tenant_id with Citus);
- the application role (`O2C_APP_DB_USER`) that owns nothing, cannot bypass RLS, and may only
  INSERT and SELECT append-only tables such as the audit log.

`tests/test_schema_gate.py` reads the catalog and fails when any of this is missing.
"""

from __future__ import annotations

import hashlib

from django.apps import apps
from django.conf import settings
from django.db import connections, models
from psycopg import sql

from .tenancy import TenantModel

TENANT_SETTING = "NULLIF(current_setting('o2c.tenant_id', true), '')::bigint"
USER_SETTING = "NULLIF(current_setting('o2c.user_id', true), '')::bigint"


def tenant_models() -> list[type[models.Model]]:
    return [
        m
        for m in apps.get_models()
        if issubclass(m, TenantModel) and not m._meta.proxy and m._meta.managed
    ]


def tenant_foreign_keys(model) -> list[models.ForeignKey]:
    return [
        f
        for f in model._meta.concrete_fields
        if isinstance(f, models.ForeignKey)
        and f.name != "tenant"
        and issubclass(f.related_model, TenantModel)
    ]


def _constraint_name(table: str, suffix: str) -> str:
    name = f"{table}_{suffix}"
    if len(name) > 63:
        name = f"{table[:40]}_{hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:10]}_{suffix[-8:]}"
    return name[:63]


def _primary_key_columns(cursor, table: str) -> tuple[str | None, list[str]]:
    cursor.execute(
        """
        SELECT c.conname, array_agg(a.attname ORDER BY k.ord)
        FROM pg_constraint c
        CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
        WHERE c.conrelid = %s::regclass AND c.contype = 'p'
        GROUP BY c.conname
        """,
        [table],
    )
    row = cursor.fetchone()
    return (row[0], list(row[1])) if row else (None, [])


def _constraint_exists(cursor, table: str, name: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_constraint WHERE conrelid = %s::regclass AND conname = %s", [table, name])
    return cursor.fetchone() is not None


def ensure_app_role(cursor) -> None:
    role, password = settings.O2C_APP_DB_USER, settings.O2C_APP_DB_PASSWORD
    create = sql.SQL(
        "CREATE ROLE {} LOGIN PASSWORD {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS"
    ).format(sql.Identifier(role), sql.Literal(password))
    # Roles are cluster-wide and parallel test databases race to create it: tolerate the loser.
    cursor.execute(
        sql.SQL(
            "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name}) THEN {create}; END IF; "
            "EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
        ).format(name=sql.Literal(role), create=create)
    )
    # Only when needed: test databases are set up in parallel, and two ALTER ROLEs of the one
    # cluster-wide role at once fail with "tuple concurrently updated".
    cursor.execute(
        sql.SQL(
            "DO $$ BEGIN IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = {name} AND (rolsuper OR rolbypassrls)) "
            "THEN {alter}; END IF; END $$"
        ).format(name=sql.Literal(role),
                 alter=sql.SQL("ALTER ROLE {} NOSUPERUSER NOBYPASSRLS").format(sql.Identifier(role)))
    )


def sync(using: str = "default") -> None:
    connection = connections[using]
    role = sql.Identifier(settings.O2C_APP_DB_USER)
    with connection.cursor() as cursor:
        ensure_app_role(cursor)
        cursor.execute(sql.SQL("GRANT USAGE ON SCHEMA public TO {}").format(role))
        cursor.execute(
            sql.SQL("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {}").format(role)
        )
        cursor.execute(sql.SQL("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {}").format(role))
        cursor.execute(sql.SQL("REVOKE INSERT, UPDATE, DELETE ON django_migrations FROM {}").format(role))
        if not connection.is_citus:
            from .statistics import function_sql

            for statement in function_sql(settings.O2C_APP_DB_USER):
                cursor.execute(statement)

        if connection.is_citus:
            from .citus import configure_app_role

            configure_app_role(cursor)
        models_ = tenant_models()
        for model in models_:
            _sync_keys(cursor, model)
        for model in models_:
            _sync_foreign_keys(cursor, model)
            _sync_policy(cursor, model)
            if getattr(model, "append_only", False):
                _sync_append_only(cursor, model, role)


def _sync_keys(cursor, model) -> None:
    table = model._meta.db_table
    name, columns = _primary_key_columns(cursor, table)
    if columns != ["tenant_id", "id"]:
        if name:
            cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                sql.Identifier(table), sql.Identifier(name)))
        cursor.execute(sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} PRIMARY KEY (tenant_id, id)").format(
            sql.Identifier(table), sql.Identifier(_constraint_name(table, "pkey"))))


def _sync_foreign_keys(cursor, model) -> None:
    table = model._meta.db_table
    for field in tenant_foreign_keys(model):
        if field.db_constraint:
            raise RuntimeError(
                f"{model.__name__}.{field.name} points at a tenant table: declare it with TenantForeignKey"
            )
        if getattr(field, "o2c_indexed", True):
            _sync_key_index(cursor, table, field.column, field.null)
        else:
            cursor.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(
                sql.Identifier(_constraint_name(table, f"{field.column}_tidx"))))
        name = _constraint_name(table, f"{field.column}_tfk")
        if not getattr(field, "o2c_enforced", True):
            cursor.execute(sql.SQL("ALTER TABLE {} DROP CONSTRAINT IF EXISTS {}").format(
                sql.Identifier(table), sql.Identifier(name)))
            continue
        if _constraint_exists(cursor, table, name):
            continue
        cursor.execute(
            sql.SQL(
                "ALTER TABLE {} ADD CONSTRAINT {} FOREIGN KEY (tenant_id, {}) REFERENCES {} (tenant_id, id) "
                "DEFERRABLE INITIALLY DEFERRED"
            ).format(
                sql.Identifier(table),
                sql.Identifier(name),
                sql.Identifier(field.column),
                sql.Identifier(field.related_model._meta.db_table),
            )
        )


def _sync_key_index(cursor, table: str, column: str, nullable: bool) -> None:
    """Index (tenant_id, <column>) for the key's lookups, unless a declared index already starts with those
    two columns (the invoice's (tenant, customer, due_date)), or for a nullable key, a declared index on them
    WHERE <column> IS NOT NULL (a reversal's unique key): a duplicate is paid on every insert.

    A nullable key gets a partial index WHERE <column> IS NOT NULL: every lookup through a key names a value
    (which Postgres knows implies NOT NULL, also in the foreign key's own checks), and rows without one, such
    as a payment before its payer is known or a remittance line owned by the payment rather than an advice,
    then cost no index entry when inserted."""
    name = _constraint_name(table, f"{column}_tidx")
    cursor.execute("SELECT i.indpred IS NOT NULL FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
                   "WHERE i.indrelid = %s::regclass AND c.relname = %s", [table, name])
    existing = cursor.fetchone()
    if existing is not None and existing[0] != nullable:
        cursor.execute(sql.SQL("DROP INDEX {}").format(sql.Identifier(name)))
    cursor.execute(
        """
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = %s::regclass AND c.relname <> %s AND i.indnkeyatts >= 2
          AND (i.indpred IS NULL OR (%s AND pg_get_expr(i.indpred, i.indrelid) = %s))
          AND i.indkey[0] = (SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attname = 'tenant_id')
          AND i.indkey[1] = (SELECT attnum FROM pg_attribute WHERE attrelid = %s::regclass AND attname = %s)
        """,
        [table, name, nullable, f"({column} IS NOT NULL)", table, table, column],
    )
    if cursor.fetchone():
        cursor.execute(sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(name)))
    else:
        partial = sql.SQL(" WHERE {} IS NOT NULL").format(sql.Identifier(column)) if nullable else sql.SQL("")
        cursor.execute(sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (tenant_id, {}){}").format(
            sql.Identifier(name), sql.Identifier(table), sql.Identifier(column), partial))


def _sync_policy(cursor, model) -> None:
    table = sql.Identifier(model._meta.db_table)
    using = f"tenant_id = {TENANT_SETTING}"
    if getattr(model, "rls_visible_to_own_user", False):
        # Sign-in must list a user's memberships before a tenant is chosen.
        using = f"({using}) OR user_id = {USER_SETTING}"
    cursor.execute(sql.SQL("ALTER TABLE {} ENABLE ROW LEVEL SECURITY").format(table))
    cursor.execute(sql.SQL("ALTER TABLE {} FORCE ROW LEVEL SECURITY").format(table))
    cursor.execute(sql.SQL("DROP POLICY IF EXISTS tenant_isolation ON {}").format(table))
    cursor.execute(
        sql.SQL("CREATE POLICY tenant_isolation ON {} USING ({}) WITH CHECK (tenant_id = {})").format(
            table, sql.SQL(using), sql.SQL(TENANT_SETTING)
        )
    )


def _sync_append_only(cursor, model, role) -> None:
    table = model._meta.db_table
    citus = cursor.db.is_citus
    if citus:
        # Citus runs a trigger on every shard and calls that unsafe only for triggers that write to other
        # tables (a worker cannot reach them); this one only refuses the statement.
        cursor.execute("SET citus.enable_unsafe_triggers TO on")
    cursor.execute(sql.SQL("REVOKE UPDATE, DELETE, TRUNCATE ON {} FROM {}").format(sql.Identifier(table), role))
    cursor.execute(
        """
        CREATE OR REPLACE FUNCTION o2c_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          -- `manage.py flush` (development and test databases only) may empty the table as the owner;
          -- the app role cannot get here for TRUNCATE at all, its privilege is revoked.
          IF TG_OP = 'TRUNCATE' AND current_setting('o2c.allow_audit_purge', true) = 'on' THEN
            RETURN NULL;
          END IF;
          RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
        END $$
        """
    )
    trigger = sql.Identifier(_constraint_name(table, "append_only"))
    cursor.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON {}").format(trigger, sql.Identifier(table)))
    cursor.execute(
        sql.SQL("CREATE TRIGGER {} BEFORE UPDATE OR DELETE OR TRUNCATE ON {} "
                "FOR EACH STATEMENT EXECUTE FUNCTION o2c_refuse_change()").format(trigger, sql.Identifier(table))
    )
    if citus:
        _sync_append_only_on_shards(cursor, table, _constraint_name(table, "append_only"))


def _sync_append_only_on_shards(cursor, table: str, trigger: str) -> None:
    """Citus never fires a distributed table's statement trigger for UPDATE or DELETE (the coordinator's
    table holds no rows; the statement runs on the shards) and does not copy statement triggers to the
    shards, so the shards get their own. TRUNCATE stays with the coordinator's trigger, which Citus does
    fire. Created where missing only: this runs after every `flush` of the transactional tests."""
    create = sql.SQL(
        "DO $o2c$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = '%1$s'::regclass AND tgname = {name}) "
        "THEN CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON %1$s FOR EACH STATEMENT "
        "EXECUTE FUNCTION public.o2c_refuse_change(); END IF; END $o2c$"
    ).format(name=sql.Literal(trigger), trigger=sql.Identifier(trigger))
    cursor.execute("SELECT success, result FROM run_command_on_shards(%s, %s)",
                   [table, create.as_string(cursor.connection)])
    failed = [result for success, result in cursor.fetchall() if not success]
    if failed:
        raise RuntimeError(f"append-only trigger on the shards of {table}: {failed[0]}")
