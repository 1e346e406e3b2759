"""o2c on a real Citus cluster (runs in the Citus test run only: O2C_CITUS=1, see tests/citus_support.py).

- `citus_distribute` turns a database migrated on plain PostgreSQL into the designed shape;
- later migrations (a new tenant table, a new column) keep that shape;
- row-level security holds on every node, for the application role, and composite keys hold at commit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from decimal import Decimal

import psycopg
import pytest
from django.conf import settings
from django.db import DatabaseError, connections, migrations, models, transaction
from django.db.migrations.state import ProjectState

from o2c import citus
from o2c.models import Customer, Invoice
from o2c.tenancy import tenant_context
from tests import citus_support
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = pytest.mark.skipif(not citus_support.CITUS, reason="runs on the Citus cluster (O2C_CITUS=1)")

APP_ROLE = settings.O2C_APP_DB_USER


def _coordinator_port() -> int:
    return int(connections["owner"].settings_dict["PORT"])


def _worker_ports() -> list[int]:
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT nodeport FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0 "
                       "ORDER BY nodeport")
        return [row[0] for row in cursor.fetchall()]


def _manage(*args: str, database_url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "DATABASE_URL": database_url}
    env.pop("O2C_DB_NAME", None)
    return subprocess.run([sys.executable, "manage.py", *args], cwd=citus_support.ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


# --- distribution as code --------------------------------------------------------------------------

@pytest.mark.django_db(databases=["default", "owner"])
def test_citus_distribute_turns_a_single_node_database_into_the_designed_shape():
    """Migrated (and holding data) before Citus was there: the route Citus refused in the README's plan."""
    name, port, workers = "o2c_upgrade", _coordinator_port(), _worker_ports()
    for node_port in (port, *workers):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node_port}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            conn.execute(f"CREATE DATABASE {name}")
    url = f"postgresql://postgres@127.0.0.1:{port}/{name}"
    migrated = _manage("migrate", "-v0", database_url=url)
    assert migrated.returncode == 0, migrated.stderr[-2000:]
    with psycopg.connect(url, autocommit=True) as conn:
        tenant = conn.execute("INSERT INTO o2c_tenant (slug, name, base_currency, created_at) "
                              "VALUES ('up', 'Up', 'USD', now()) RETURNING id").fetchone()[0]
        conn.execute("INSERT INTO o2c_customer (tenant_id, external_id, name, parent_id, payment_terms, "
                     "credit_limit, currency, segment, risk, is_active, created_at, updated_at) VALUES "
                     "(%s, 'C1', 'Kept Customer', NULL, 'net 30', 0, 'USD', '', 'low', true, now(), now())",
                     [tenant])
        keys_before = set(conn.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint "
                                       "WHERE contype = 'f'").fetchall())
        for node_port in workers:
            with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node_port}/{name}", autocommit=True) as w:
                w.execute("CREATE EXTENSION citus")
        conn.execute("CREATE EXTENSION citus")
        conn.execute("SELECT citus_set_coordinator_host('127.0.0.1', %s)", [port])
        for node_port in workers:
            conn.execute("SELECT citus_add_node('127.0.0.1', %s)", [node_port])

    first = _manage("citus_distribute", database_url=url)
    again = _manage("citus_distribute", database_url=url)

    assert first.returncode == 0, first.stderr[-2000:]
    assert "tables distributed by tenant_id" in first.stdout
    assert again.returncode == 0 and "nothing to do" in again.stdout  # idempotent
    with psycopg.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
        assert citus.shape_problems(cursor) == []
        cursor.execute("SELECT name FROM o2c_customer WHERE tenant_id = %s", [tenant])
        assert cursor.fetchall() == [("Kept Customer",)]  # the data moved to its shard
        cursor.execute("SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'")
        assert keys_before <= set(cursor.fetchall())  # every key is back
    for node_port in (port, *workers):
        with psycopg.connect(f"postgresql://postgres@127.0.0.1:{node_port}/postgres", autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def test_citus_distribute_refuses_a_database_without_citus(tmp_path):
    result = _manage("citus_distribute", database_url="postgresql://postgres@127.0.0.1:5432/postgres")
    assert result.returncode != 0
    assert "not a Citus coordinator" in result.stderr


@pytest.mark.django_db(transaction=True, databases=["default", "owner"])
def test_later_migrations_add_a_tenant_table_and_columns_on_the_distributed_schema():
    """The operations a later migration runs, through Django's migration machinery on the coordinator."""
    from django.apps import apps

    before = ProjectState.from_apps(apps)
    create = migrations.CreateModel("Shipment", fields=[
        ("id", models.BigAutoField(primary_key=True)),
        ("tenant", models.ForeignKey("o2c.tenant", models.PROTECT, related_name="+")),
        ("customer", models.ForeignKey("o2c.customer", models.PROTECT, related_name="+", db_constraint=False)),
        ("carrier", models.CharField(max_length=40)),
    ])
    # A PositiveIntegerField brings a CHECK, which Citus wants named (see o2c.db.schema).
    add_to_new = migrations.AddField("shipment", "parcels", models.PositiveIntegerField(default=1))
    add_to_old = migrations.AddField("invoice", "incoterm", models.CharField(max_length=3, default="EXW"))
    states, operations = [before], [create, add_to_new, add_to_old]
    for operation in operations:
        state = states[-1].clone()
        operation.state_forwards("o2c", state)
        states.append(state)
    try:
        with connections["owner"].schema_editor() as editor:
            for operation, (old, new) in zip(operations, zip(states, states[1:], strict=False), strict=True):
                operation.database_forwards("o2c", editor, old, new)
        with connections["owner"].cursor() as cursor:
            placed = citus.placements(cursor)
            assert placed["o2c_shipment"][:2] == ("distributed", "tenant_id")
            assert placed["o2c_shipment"][2] == placed["o2c_customer"][2]  # colocated with the rest
            assert citus.shape_problems(cursor) == []
            cursor.execute("SELECT column_default FROM information_schema.columns "
                           "WHERE table_name = 'o2c_invoice' AND column_name = 'incoterm'")
            assert cursor.fetchone() is not None
            tenant = cursor.execute("INSERT INTO o2c_tenant (slug, name, base_currency, created_at) "
                                    "VALUES ('mig', 'Mig', 'USD', now()) RETURNING id").fetchone()[0]
            with pytest.raises(DatabaseError, match="check"), transaction.atomic(using="owner"):
                cursor.execute("INSERT INTO o2c_shipment (tenant_id, customer_id, carrier, parcels) "
                               "VALUES (%s, 1, 'UPS', -1)", [tenant])
    finally:
        with connections["owner"].schema_editor() as editor:
            for operation, (old, new) in reversed(list(zip(operations, zip(states, states[1:], strict=False),
                                                           strict=True))):
                operation.database_backwards("o2c", editor, new, old)


# --- row-level security on every node ---------------------------------------------------------------

@pytest.fixture
def two_tenants_data(tenant, other_tenant):
    with tenant_context(tenant):
        CustomerFactory(name="A customer")
    with tenant_context(other_tenant):
        CustomerFactory(name="B customer")
    return tenant, other_tenant


@pytest.mark.django_db(transaction=True)
def test_the_app_role_is_held_by_the_policies_on_every_worker(two_tenants_data):
    """Straight to each worker as the application role, past the coordinator: the shards' own policies."""
    tenant, _ = two_tenants_data
    for port in _worker_ports():
        url = f"postgresql://{APP_ROLE}@127.0.0.1:{port}/{citus_support.DB_NAME}"
        with psycopg.connect(url) as conn, conn.cursor() as cursor:
            cursor.execute("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            assert cursor.fetchone() == (False, False)
            cursor.execute("SET citus.show_shards_for_app_name_prefixes = '*'")  # Citus hides shards otherwise
            cursor.execute("SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                           "WHERE c.relname ~ '^o2c_customer_[0-9]+$' AND n.nspname = 'public'")
            shards = [row[0] for row in cursor.fetchall()]
            conn.commit()
            assert shards, f"no customer shard on the worker at port {port}"
            for shard in shards:  # without a tenant: nothing, although the rows are there
                cursor.execute(f"SELECT count(*) FROM {shard}")
                assert cursor.fetchone()[0] == 0
            conn.commit()
            cursor.execute(f"SET LOCAL o2c.tenant_id = '{tenant.pk}'")
            names = set()
            for shard in shards:
                cursor.execute(f"SELECT name FROM {shard}")
                names |= {row[0] for row in cursor.fetchall()}
            assert names <= {"A customer"}
            conn.commit()
            with pytest.raises(psycopg.Error, match="row-level security|must be owner"):
                cursor.execute(f"ALTER TABLE {shards[0]} DISABLE ROW LEVEL SECURITY")
            conn.rollback()
            with pytest.raises(psycopg.Error, match="row-level security"):
                cursor.execute("SET row_security = off")
                cursor.execute(f"SELECT count(*) FROM {shards[0]}")


@pytest.mark.django_db(transaction=True)
def test_the_tenant_reaches_the_workers_and_only_its_rows_come_back(two_tenants_data):
    tenant, other = two_tenants_data
    with tenant_context(tenant):
        assert list(Customer.objects.values_list("name", flat=True)) == ["A customer"]
        with connections["default"].cursor() as cursor:  # raw, no filter: the workers' policies decide
            cursor.execute("SET LOCAL citus.multi_task_query_log_level = 'off'")
            cursor.execute("SELECT name FROM o2c_customer")
            assert cursor.fetchall() == [("A customer",)]


@pytest.mark.django_db(transaction=True)
def test_a_key_to_another_tenants_row_is_refused_at_commit(two_tenants_data):
    """SET CONSTRAINTS does not reach the workers, so the deferred composite key is checked at commit, where
    the worker refuses it and the coordinator reports that the shard could not commit."""
    tenant, other = two_tenants_data
    with tenant_context(other):
        theirs = Customer.objects.get()
    with pytest.raises(DatabaseError, match="could not commit transaction for shard"), tenant_context(tenant):
        InvoiceFactory(customer_id=theirs.pk, amount=Decimal("10.00"), number="SMUGGLED")
    with tenant_context(tenant):
        assert not Invoice.objects.filter(number="SMUGGLED").exists()
        assert InvoiceFactory(customer=Customer.objects.get(), amount=Decimal("10.00")).pk  # control
