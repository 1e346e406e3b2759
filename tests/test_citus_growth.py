"""Growing the cluster while o2c works (Citus run only): what README's "Scaling out" section tells an operator
to do, done here for real.

- A worker is added and the shards rebalanced (`citus_rebalance_start`, logical replication) while bank-file
  imports and matching runs go on: every payment arrives once and is applied once.
- A large tenant is moved to a shard of its own (`isolate_tenant_to_new_shard`), its rows all kept and its
  requests still routed to one shard.
"""

from __future__ import annotations

import threading
from decimal import Decimal

import psycopg
import pytest
from django.db import connections

from cashapp.models import Application, CashAppSettings
from cashapp.services import matching_run_create, matching_run_execute
from o2c import citus
from o2c.models import Customer, Invoice
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests import citus_support
from tests.cashapp_support import Credit, import_credits
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = [pytest.mark.skipif(not citus_support.CITUS, reason="runs on the Citus cluster (O2C_CITUS=1)"),
              pytest.mark.django_db(transaction=True, databases=["default", "owner"])]

BATCHES, PER_BATCH = 6, 40


def _batch(tenant, b: int) -> None:
    """One bank file of PER_BATCH payments for as many new invoices, imported and then matched."""
    with tenant_context(tenant):
        customer = CustomerFactory(name=f"Growth Customer {b}")
        invoices = [InvoiceFactory(customer=customer, number=f"G{b}-{i:03d}", amount=Decimal("50.00") + i)
                    for i in range(PER_BATCH)]
        import_credits([Credit(f"G{b}P{i:03d}", inv.amount, payer=customer.name,
                               invoices=((inv.number, inv.amount),)) for i, inv in enumerate(invoices)],
                       statement_id=f"GROWTH-{b}")
        run = matching_run_create(trigger="manual")
    matching_run_execute(tenant_id=tenant.pk, run_id=run.pk)


def _in_background(work, *args) -> tuple[threading.Thread, list]:
    errors: list[BaseException] = []

    def target():
        try:
            work(*args)
        except BaseException as exc:  # re-raised by the test
            errors.append(exc)
        finally:
            connections.close_all()

    thread = threading.Thread(target=target)
    thread.start()
    return thread, errors


def _drop_moved_shards(cursor) -> None:
    """A move leaves the old shards for Citus's maintenance daemon to drop later, which then takes table locks
    in the background (it deadlocked with the next test's TRUNCATE); drop them now, as an operator may."""
    cursor.execute("CALL citus_cleanup_orphaned_resources()")


def _placements_on(port: int) -> int:
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_dist_placement p JOIN pg_dist_node n USING (groupid) "
                       "WHERE n.nodeport = %s", [port])
        return cursor.fetchone()[0]


def test_a_worker_added_and_rebalanced_while_imports_and_matching_run_loses_nothing(tenant):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
    clusters = citus_support.cluster_module()
    coordinator_port = int(connections["owner"].settings_dict["PORT"])
    base = citus_support.cluster_base()
    new = clusters.start_node(base, "worker-added", coordinator_port + 5)
    with psycopg.connect(new.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {citus_support.DB_NAME}")
    with psycopg.connect(new.dsn(citus_support.DB_NAME), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citus")

    def imports_and_matching():
        for b in range(BATCHES):
            _batch(tenant, b)

    worker, errors = _in_background(imports_and_matching)
    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT citus_add_node('127.0.0.1', %s)", [new.port])
        cursor.execute("SELECT citus_rebalance_start(shard_transfer_mode => 'force_logical')")
        cursor.execute("SELECT citus_rebalance_wait()")
        _drop_moved_shards(cursor)
    worker.join(600)
    assert not worker.is_alive(), "imports and matching did not finish"
    assert not errors, errors

    assert _placements_on(new.port) > 0  # shards did move to the new worker
    with tenant_context(tenant):
        payments = Payment.objects.count()
        assert payments == BATCHES * PER_BATCH
        assert Application.objects.values("payment_id").distinct().count() == payments
        assert Application.objects.count() == payments  # each applied once
        assert not Invoice.objects.exclude(open_balance=0).exists()
    with connections["owner"].cursor() as cursor:
        assert citus.shape_problems(cursor) == []


def test_a_large_tenant_moves_to_a_shard_of_its_own(tenant, other_tenant):
    with tenant_context(tenant):
        big = CustomerFactory(name="Large Tenant Customer")
        for i in range(30):
            InvoiceFactory(customer=big, number=f"L-{i:03d}")
    with tenant_context(other_tenant):
        CustomerFactory(name="Neighbour")

    with connections["owner"].cursor() as cursor:
        cursor.execute("SELECT isolate_tenant_to_new_shard('o2c_customer', %s, 'CASCADE', "
                       "shard_transfer_mode => 'force_logical')", [tenant.pk])
        shard = cursor.fetchone()[0]
        _drop_moved_shards(cursor)
        cursor.execute("SELECT shardminvalue, shardmaxvalue FROM pg_dist_shard WHERE shardid = %s", [shard])
        low, high = cursor.fetchone()
        assert low == high  # one hash value: the shard holds this tenant alone
        cursor.execute("SELECT get_shard_id_for_distribution_column('o2c_invoice', %s) "
                       "IN (SELECT shardid FROM pg_dist_shard WHERE shardminvalue = %s)", [tenant.pk, low])
        assert cursor.fetchone()[0]  # its invoices moved with it (colocated)
        assert citus.shape_problems(cursor) == []

    with tenant_context(tenant):
        assert Invoice.objects.filter(customer__name="Large Tenant Customer").count() == 30
    with tenant_context(other_tenant):
        assert list(Customer.objects.values_list("name", flat=True)) == ["Neighbour"]
