"""The schema gate: the catalog itself must show that every tenant table is isolated.

`schema_problems()` reads pg_catalog and returns a list of human-readable problems; the gate test
asserts the list is empty. The regression tests below break the schema inside an owner transaction
that is rolled back (DDL is transactional in Postgres) and assert the same function reports it, so
the gate is shown to catch a dropped policy, un-forced RLS, a unique key or foreign key without
tenant_id, a new unreviewed global table and a table owned by the app role.
"""

from __future__ import annotations

import re
from contextlib import contextmanager

import pytest
from django.conf import settings
from django.db import DatabaseError, connections, transaction

from o2c.rls import tenant_models
from tests import citus_support

# Tables without tenant_id, each on purpose. A new global table fails the gate until someone adds it
# here (and says why).
GLOBAL_TABLES = {
    "o2c_tenant": "the tenants themselves",
    "o2c_user": "a person may belong to several tenants; access comes from o2c_membership",
    "o2c_user_groups": "Django auth plumbing on the global user",
    "o2c_user_user_permissions": "Django auth plumbing on the global user",
    "auth_group": "Django auth, unused by tenants",
    "auth_group_permissions": "Django auth, unused by tenants",
    "auth_permission": "Django auth, unused by tenants",
    "django_admin_log": "the operator's Django admin (superusers only)",
    "django_content_type": "Django plumbing",
    "django_migrations": "Django plumbing; the app role may not write it",
    "django_session": "sessions exist before a tenant is chosen",
    "axes_accessattempt": "login throttling happens before a tenant is known",
    "axes_accessfailurelog": "login throttling happens before a tenant is known",
    "axes_accesslog": "login throttling happens before a tenant is known",
    "axes_accessattemptexpiration": "login throttling happens before a tenant is known",
    "otp_totp_totpdevice": "a person's authenticator, shared by all their tenants",
}
# Other apps (celery beat, results) may add plumbing tables; they must be listed explicitly too.
GLOBAL_TABLE_PATTERNS = [re.compile(p) for p in (r"^django_celery_\w+$",)]

TENANT_SETTING = "o2c.tenant_id"


def _is_global_allowed(table: str) -> bool:
    return table in GLOBAL_TABLES or any(p.match(table) for p in GLOBAL_TABLE_PATTERNS)


def schema_problems(cursor, app_role: str) -> list[str]:
    problems: list[str] = []
    cursor.execute(
        """
        SELECT c.oid, c.relname, c.relrowsecurity, c.relforcerowsecurity,
               EXISTS (SELECT 1 FROM pg_attribute a
                       WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')
        """
    )
    tables = {oid: (name, rls, force, has_tenant) for oid, name, rls, force, has_tenant in cursor.fetchall()}
    tenant_oids = {oid for oid, (_, _, _, has_tenant) in tables.items() if has_tenant}

    for _oid, (name, rls, force, has_tenant) in sorted(tables.items(), key=lambda kv: kv[1][0]):
        if not has_tenant:
            if not _is_global_allowed(name):
                problems.append(f"{name}: has no tenant_id and is not on the global-table allowlist")
            continue
        if not rls:
            problems.append(f"{name}: row-level security is not enabled")
        if not force:
            problems.append(f"{name}: row-level security is not forced (the owner would bypass it)")

    # Policies: at least one ALL policy on o2c.tenant_id, and no permissive policy that ignores it
    # (permissive policies are OR-ed, so one `USING (true)` would open the table).
    cursor.execute(
        "SELECT tablename, policyname, permissive, cmd, coalesce(qual, ''), coalesce(with_check, '') "
        "FROM pg_policies WHERE schemaname = 'public'"
    )
    policies: dict[str, list[tuple]] = {}
    for table, *rest in cursor.fetchall():
        policies.setdefault(table, []).append(tuple(rest))
    for oid in tenant_oids:
        name = tables[oid][0]
        table_policies = policies.get(name, [])
        if not any(cmd == "ALL" and TENANT_SETTING in qual and TENANT_SETTING in (check or qual)
                   for _, _, cmd, qual, check in table_policies):
            problems.append(f"{name}: no policy restricting every command to {TENANT_SETTING}")
        for policy, permissive, cmd, qual, check in table_policies:
            if permissive == "PERMISSIVE":
                if cmd in ("ALL", "SELECT", "UPDATE", "DELETE") and TENANT_SETTING not in qual:
                    problems.append(f"{name}: permissive policy {policy} ({cmd}) does not check {TENANT_SETTING}")
                if cmd in ("ALL", "INSERT", "UPDATE") and TENANT_SETTING not in (check or qual):
                    problems.append(f"{name}: permissive policy {policy} ({cmd}) lets rows of any tenant be "
                                    "written")

    # Every unique index (constraints included) on a tenant table leads with or contains tenant_id.
    cursor.execute(
        """
        SELECT i.indrelid, ic.relname, i.indisprimary,
               array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord)
        FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid
        WHERE i.indisunique
        """
    )
    for relid, index, is_primary, columns in cursor.fetchall():
        if relid not in tenant_oids:
            continue
        name = tables[relid][0]
        if is_primary and list(columns) != ["tenant_id", "id"]:
            problems.append(f"{name}: primary key is ({', '.join(columns)}), not (tenant_id, id)")
        elif "tenant_id" not in columns:
            problems.append(f"{name}: unique index {index} on ({', '.join(columns)}) lacks tenant_id")

    # Foreign keys: between tenant tables they pair tenant_id with tenant_id; a global table must
    # never point into a tenant table.
    cursor.execute(
        """
        SELECT c.conname, c.conrelid, c.confrelid,
               array(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.ord),
               array(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY k(attnum, ord)
                     JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.ord)
        FROM pg_constraint c WHERE c.contype = 'f'
        """
    )
    for conname, relid, frelid, columns, fcolumns in cursor.fetchall():
        if relid not in tables or frelid not in tables:
            continue
        source, target = tables[relid][0], tables[frelid][0]
        if frelid in tenant_oids and relid not in tenant_oids:
            problems.append(f"{source}: global table has foreign key {conname} into tenant table {target}")
        elif frelid in tenant_oids:
            pairs = list(zip(columns, fcolumns, strict=True))
            if ("tenant_id", "tenant_id") not in pairs:
                problems.append(f"{source}: foreign key {conname} ({', '.join(columns)}) -> {target} "
                                f"({', '.join(fcolumns)}) does not pair tenant_id with tenant_id")
        elif relid in tenant_oids and not _is_global_allowed(target):
            problems.append(f"{source}: foreign key {conname} points at {target}, which is not an allowed global table")

    # The application role: not superuser, cannot bypass RLS, owns nothing in the database.
    cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = %s", [app_role])
    row = cursor.fetchone()
    if row is None:
        problems.append(f"app role {app_role} does not exist")
    else:
        if row[0]:
            problems.append(f"app role {app_role} is a superuser")
        if row[1]:
            problems.append(f"app role {app_role} can bypass row-level security")
    cursor.execute(
        """
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(c.relowner) = %s
        UNION ALL
        SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = 'public' AND pg_get_userbyid(p.proowner) = %s
        UNION ALL
        SELECT 'schema ' || nspname FROM pg_namespace WHERE pg_get_userbyid(nspowner) = %s
        UNION ALL
        SELECT 'database ' || datname FROM pg_database
        WHERE datname = current_database() AND pg_get_userbyid(datdba) = %s
        """,
        [app_role] * 4,
    )
    for (owned,) in cursor.fetchall():
        problems.append(f"app role {app_role} owns {owned}")
    return problems


APP_ROLE = settings.O2C_APP_DB_USER
pytestmark = pytest.mark.django_db(databases=["default", "owner"])


def test_schema_gate_passes():
    with connections["owner"].cursor() as cursor:
        assert schema_problems(cursor, APP_ROLE) == []


def test_every_tenant_model_table_is_seen_by_the_gate():
    """The gate reads the catalog, not the model registry; make sure they agree on what is a tenant table."""
    with connections["owner"].cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM information_schema.columns "
            "WHERE table_schema = 'public' AND column_name = 'tenant_id'"
        )
        catalog = {r[0] for r in cursor.fetchall()}
    models = {m._meta.db_table for m in tenant_models()}
    assert models <= catalog
    assert len(models) >= 12  # the shared ledger alone has this many; guards an empty registry


def test_the_tests_run_as_the_unprivileged_app_role():
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT current_user, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
        assert cursor.fetchone() == (APP_ROLE, False, False)


# --- the gate catches regressions --------------------------------------------------------------

class _Rollback(Exception):
    pass


@contextmanager
def broken_schema(*statements: str):
    """Run DDL as the owner, yield the gate's findings, then roll everything back."""
    found: list[str] = []
    try:
        with transaction.atomic(using="owner"):
            with connections["owner"].cursor() as cursor:
                for statement in statements:
                    cursor.execute(statement)
                found.extend(schema_problems(cursor, APP_ROLE))
            raise _Rollback
    except _Rollback:
        pass
    yield found
    with connections["owner"].cursor() as cursor:
        assert schema_problems(cursor, APP_ROLE) == [], "the rollback did not restore the schema"


@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["DROP POLICY tenant_isolation ON o2c_invoice"],
         "o2c_invoice: no policy restricting every command"),
        (["ALTER TABLE o2c_customer NO FORCE ROW LEVEL SECURITY"],
         "o2c_customer: row-level security is not forced"),
        (["ALTER TABLE o2c_creditmemo DISABLE ROW LEVEL SECURITY"],
         "o2c_creditmemo: row-level security is not enabled"),
        (["CREATE POLICY wide_open ON o2c_invoice USING (true)"],
         "o2c_invoice: permissive policy wide_open (ALL) does not check o2c.tenant_id"),
        (["CREATE UNIQUE INDEX invoice_po_unique ON o2c_invoice (po_number)"],
         "o2c_invoice: unique index invoice_po_unique on (po_number) lacks tenant_id"),
        (["ALTER TABLE o2c_customer ADD CONSTRAINT customer_name_unique UNIQUE (name)"],
         "o2c_customer: unique index customer_name_unique on (name) lacks tenant_id"),
        # A single-column FK to another tenant's row needs a unique key on id alone (itself flagged);
        # the gate names the FK as well.
        (["CREATE UNIQUE INDEX customer_id_only ON o2c_customer (id)",
          "ALTER TABLE o2c_invoice ADD CONSTRAINT invoice_customer_plain_fk FOREIGN KEY (customer_id) "
          "REFERENCES o2c_customer (id)"],
         "o2c_invoice: foreign key invoice_customer_plain_fk (customer_id) -> o2c_customer (id) does not pair"),
        (["CREATE TABLE o2c_something_new (id bigint PRIMARY KEY, note text)"],
         "o2c_something_new: has no tenant_id and is not on the global-table allowlist"),
        (["CREATE TABLE o2c_tenant_thing (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id))"],
         "o2c_tenant_thing: row-level security is not enabled"),
        ([f"ALTER TABLE o2c_invoiceimport OWNER TO {APP_ROLE}"],
         f"app role {APP_ROLE} owns o2c_invoiceimport"),
        (["ALTER TABLE o2c_apitoken DROP CONSTRAINT o2c_apitoken_pkey, ADD PRIMARY KEY (id)"],
         "o2c_apitoken: primary key is (id), not (tenant_id, id)"),
    ],
    ids=["drop-policy", "no-force", "disable-rls", "permissive-true", "unique-index", "unique-constraint",
         "plain-fk", "new-global-table", "new-tenant-table-without-rls", "app-role-owns", "pk-without-tenant"],
)
def test_gate_reports_a_broken_schema(request, statements, expected):
    if citus_support.CITUS and request.node.callspec.id in CITUS_REFUSES:
        # A key without the distribution column cannot exist on a distributed table: Citus refuses the DDL.
        with pytest.raises(DatabaseError), broken_schema(*statements):
            pass
        return
    with broken_schema(*statements) as found:
        pass
    assert any(p.startswith(expected) for p in found), found


CITUS_REFUSES = {"unique-index", "unique-constraint", "plain-fk", "pk-without-tenant"}


# --- the gate on Citus: the one distributed shape ------------------------------------------------

on_citus = pytest.mark.skipif(not citus_support.CITUS, reason="the Citus run checks the distributed shape")


@on_citus
def test_citus_shape_is_the_one_designed():
    from o2c.citus import placements, shape_problems

    with connections["owner"].cursor() as cursor:
        assert shape_problems(cursor) == []
        placed = placements(cursor)
    tenant_tables = {m._meta.db_table for m in tenant_models()}
    assert {t for t, (kind, _, _) in placed.items() if kind == "distributed"} == tenant_tables
    assert {placed[t][2] for t in tenant_tables} == {placed["o2c_customer"][2]}  # one colocation group
    assert placed["o2c_tenant"][0] == "reference"


@on_citus
@pytest.mark.parametrize(
    ("statements", "expected"),
    [
        (["CREATE TABLE o2c_plain_thing (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id))"],
         "o2c_plain_thing: a tenant table that is a plain table on the coordinator, not distributed by tenant_id"),
        (["CREATE TABLE o2c_lonely (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id))",
          "SELECT create_distributed_table('o2c_lonely', 'tenant_id', colocate_with => 'none')"],
         "o2c_lonely: distributed outside o2c_customer's colocation group"),
        (["CREATE TABLE o2c_by_id (tenant_id bigint, id bigint, PRIMARY KEY (tenant_id, id))",
          "SELECT create_distributed_table('o2c_by_id', 'id', colocate_with => 'none')"],
         "o2c_by_id: a tenant table that is distributed by id, not distributed by tenant_id"),
        (["CREATE TABLE django_plain_global (id bigint PRIMARY KEY)"],
         "django_plain_global: a global table that is a plain table on the coordinator, not a reference table"),
    ],
    ids=["plain-tenant-table", "other-colocation-group", "wrong-column", "plain-global-table"],
)
def test_citus_gate_reports_a_table_outside_the_shape(statements, expected):
    from o2c.citus import shape_problems

    found = []
    with pytest.raises(_Rollback), transaction.atomic(using="owner"), connections["owner"].cursor() as cursor:
        cursor.execute("SET LOCAL citus.multi_shard_modify_mode TO 'sequential'")
        for statement in statements:
            cursor.execute(statement)
        found.extend(shape_problems(cursor))
        raise _Rollback
    assert expected in found, found
    with connections["owner"].cursor() as cursor:
        assert shape_problems(cursor) == []
