"""Transactional tests (live server, Celery worker) rely on `flush` emptying every table, audit log included."""

import pytest
from django.db import connections

from o2c.models import AuditEvent, Customer
from o2c.services.audit import audit_event
from o2c.tenancy import tenant_context


@pytest.mark.django_db(transaction=True)
def test_flush_empties_the_audit_log_as_owner(tenant):
    from django.core.management import call_command

    with tenant_context(tenant):
        customer = Customer.objects.create(external_id="C1", name="Acme")
        audit_event("customer.created", customer)
    call_command("flush", verbosity=0, interactive=False, database="default")
    with connections["owner"].cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM {AuditEvent._meta.db_table}")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT current_setting('o2c.allow_audit_purge', true)")
        assert cursor.fetchone()[0] in ("", None)  # the purge permission does not outlive the command


@pytest.mark.django_db(databases=["default", "owner"])
def test_owner_cannot_truncate_audit_log_without_the_purge_setting():
    from django.db import DatabaseError, transaction

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(using="owner"):
        with connections["owner"].cursor() as cursor:
            cursor.execute(f"TRUNCATE {AuditEvent._meta.db_table}")
