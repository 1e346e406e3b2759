"""Row-level security and composite keys, exercised through the unprivileged app role.

The ORM's scope is left out on purpose here (raw SQL and the `unscoped` manager), so what is shown is
the database's own refusal: the second line of defence.
"""

import pytest
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, connections, transaction

from o2c.models import AuditEvent, Customer, Invoice
from o2c.services.audit import audit_event
from o2c.tenancy import tenant_context
from tests import citus_support
from tests.factories import CustomerFactory, InvoiceFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("rls_probe")]


@pytest.fixture
def two(tenant, other_tenant):
    with tenant_context(tenant):
        a_customer = CustomerFactory(name="A customer")
        a_invoice = InvoiceFactory(customer=a_customer)
    with tenant_context(other_tenant):
        b_customer = CustomerFactory(name="B customer")
        b_invoice = InvoiceFactory(customer=b_customer)
        audit_event("invoice.created", b_invoice)
    return {"a": tenant, "b": other_tenant, "a_customer": a_customer, "b_customer": b_customer,
            "a_invoice": a_invoice, "b_invoice": b_invoice}


def _sql(statement, params=()):
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else cursor.rowcount


def test_connection_is_the_app_role():
    assert _sql("SELECT current_user")[0][0] == settings.O2C_APP_DB_USER


def test_without_a_tenant_the_bypass_manager_sees_nothing(two):
    # Rows exist (four of them), yet with o2c.tenant_id empty the policy admits none: fail-closed.
    assert Customer.unscoped.count() == 0
    assert Invoice.unscoped.count() == 0
    assert _sql("SELECT count(*) FROM o2c_invoice")[0][0] == 0


def test_raw_sql_in_a_scope_sees_only_that_tenant(two):
    with tenant_context(two["a"]):
        assert _sql("SELECT id FROM o2c_invoice") == [(two["a_invoice"].pk,)]
        assert _sql("SELECT count(*) FROM o2c_auditevent WHERE object_id = %s", [two["b_invoice"].pk])[0][0] == 0


def test_update_and_delete_of_another_tenants_rows_touch_nothing(two):
    with tenant_context(two["a"]):
        assert _sql("UPDATE o2c_customer SET name = 'pwned' WHERE id = %s", [two["b_customer"].pk]) == 0
        assert _sql("DELETE FROM o2c_invoice WHERE id = %s", [two["b_invoice"].pk]) == 0
        assert Customer.unscoped.filter(pk=two["b_customer"].pk).update(name="pwned") == 0
    with tenant_context(two["b"]):
        assert Customer.objects.get(pk=two["b_customer"].pk).name == "B customer"
        assert Invoice.objects.filter(pk=two["b_invoice"].pk).exists()


def test_insert_with_another_tenants_id_is_refused_by_with_check(two):
    with tenant_context(two["a"]):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            _sql("INSERT INTO o2c_customer (tenant_id, external_id, name, payment_terms, currency, is_active, "
                 "created_at, updated_at) VALUES (%s, 'X', 'Smuggled', 'net 30', 'USD', true, now(), now())",
                 [two["b"].pk])


def test_moving_a_row_to_another_tenant_is_refused(two):
    with tenant_context(two["a"]):
        with pytest.raises(DatabaseError), transaction.atomic():
            _sql("UPDATE o2c_customer SET tenant_id = %s WHERE id = %s", [two["b"].pk, two["a_customer"].pk])


def test_the_app_role_cannot_switch_row_security_off(two):
    with tenant_context(two["a"]):
        with pytest.raises(DatabaseError, match="row-level security"), transaction.atomic():
            _sql("SET LOCAL row_security = off")
            _sql("SELECT count(*) FROM o2c_invoice")
        with pytest.raises(DatabaseError, match="must be owner"), transaction.atomic():
            _sql("ALTER TABLE o2c_invoice DISABLE ROW LEVEL SECURITY")
        # On Citus the SET LOCAL goes to the workers too, and the coordinator reports their refusal.
        with pytest.raises(DatabaseError, match="permission denied|failure on connection marked as essential"), \
                transaction.atomic():
            _sql("SET LOCAL ROLE postgres")


ON_CITUS = pytest.mark.skipif(citus_support.CITUS, reason="SET CONSTRAINTS does not reach Citus workers, where "
                              "the deferred key is checked at commit: tests/test_citus.py commits to show it")


@ON_CITUS
def test_composite_fk_refuses_an_invoice_pointing_at_another_tenants_customer(two):
    """RI checks ignore RLS, so this is the composite key itself: (tenant A, B's customer id) is no row."""
    with tenant_context(two["a"]):
        with pytest.raises(IntegrityError, match="tfk"), transaction.atomic():
            _sql("SET CONSTRAINTS ALL IMMEDIATE")
            InvoiceFactory(customer_id=two["b_customer"].pk)
        # Control: the same statement with A's own customer goes through.
        with transaction.atomic():
            _sql("SET CONSTRAINTS ALL IMMEDIATE")
            InvoiceFactory(customer_id=two["a_customer"].pk)


@ON_CITUS
@pytest.mark.django_db(databases=["default", "owner"])
def test_composite_fk_refuses_it_for_the_owner_too():
    """The owner bypasses RLS, so only the composite foreign key stands in the way here."""
    owner = connections["owner"]
    with pytest.raises(IntegrityError, match="tfk"), transaction.atomic(using="owner"):
        with owner.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("INSERT INTO o2c_tenant (slug, name, base_currency, created_at) VALUES "
                           "('fk-a', 'A', 'USD', now()), ('fk-b', 'B', 'USD', now()) RETURNING id")
            a_id, b_id = (r[0] for r in cursor.fetchall())
            cursor.execute("INSERT INTO o2c_customer (tenant_id, external_id, name, payment_terms, currency, "
                           "is_active, created_at, updated_at) VALUES (%s, 'C', 'B cust', 'net 30', 'USD', true, "
                           "now(), now()) RETURNING id", [b_id])
            b_customer = cursor.fetchone()[0]
            cursor.execute(
                "INSERT INTO o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, currency, "
                "open_balance, po_number, discount_percent, status, created_at, updated_at) VALUES "
                "(%s, 'I1', %s, '2026-01-01', '2026-01-31', 10, 'USD', 10, '', 0, 'open', now(), now())",
                [a_id, b_customer],
            )


def test_the_app_role_cannot_change_or_remove_audit_events(two):
    with tenant_context(two["b"]):
        assert AuditEvent.objects.count() == 1
        for statement in ("UPDATE o2c_auditevent SET action = 'forged'", "DELETE FROM o2c_auditevent",
                          "TRUNCATE o2c_auditevent"):
            with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
                _sql(statement)
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.update(action="forged")
        with pytest.raises(DatabaseError), transaction.atomic():
            AuditEvent.objects.all().delete()
        assert AuditEvent.objects.get().action == "invoice.created"


@pytest.mark.django_db(transaction=True)
def test_tenant_setting_ends_with_the_transaction(tenant):
    with tenant_context(tenant):
        CustomerFactory()
        assert _sql("SELECT current_setting('o2c.tenant_id', true)")[0][0] == str(tenant.pk)
    # Same connection, next transaction (autocommit): no tenant, so RLS shows nothing.
    assert (_sql("SELECT current_setting('o2c.tenant_id', true)")[0][0] or "") == ""
    assert Customer.unscoped.count() == 0
    with tenant_context(tenant):
        assert Customer.objects.count() == 1
