"""The audit log: who changed what, when, from where; append-only even for the schema owner."""

import io
from datetime import date
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connections, transaction
from django.test import override_settings
from django.urls import reverse

from o2c.models import AuditEvent, Role
from o2c.services.audit import audit_event, diff, snapshot
from o2c.tenancy import RequestOrigin, origin_context, tenant_context
from tests.factories import InvoiceFactory, member

pytestmark = pytest.mark.django_db


def test_web_change_records_actor_channel_address_and_agent(tenant, verified_client):
    admin = member(tenant, Role.TENANT_ADMIN)
    client = verified_client(admin)
    response = client.post(reverse("api_token_create"), {"name": "ERP", "role": Role.AR_CLERK},
                           REMOTE_ADDR="203.0.113.7", HTTP_USER_AGENT="probe-agent/1.0")
    assert response.status_code == 200
    with tenant_context(tenant):
        event = AuditEvent.objects.get(action="api_token.created")
    assert (event.actor_id, event.channel, event.ip, event.user_agent) == (admin.pk, "web", "203.0.113.7",
                                                                          "probe-agent/1.0")
    assert event.object_type == "apitoken" and event.changes == {"role": [None, "ar_clerk"]}
    assert event.created_at is not None


def test_forwarded_for_is_not_believed_without_a_proxy(tenant, verified_client):
    client = verified_client(member(tenant, Role.TENANT_ADMIN))
    client.post(reverse("api_token_create"), {"name": "ERP", "role": Role.AR_CLERK},
                REMOTE_ADDR="203.0.113.7", HTTP_X_FORWARDED_FOR="198.51.100.1")
    with tenant_context(tenant):
        assert AuditEvent.objects.get(action="api_token.created").ip == "203.0.113.7"


@override_settings(O2C_BEHIND_PROXY=True)
def test_behind_a_proxy_the_hop_it_appended_is_recorded(tenant, verified_client):
    client = verified_client(member(tenant, Role.TENANT_ADMIN))
    client.post(reverse("api_token_create"), {"name": "ERP", "role": Role.AR_CLERK},
                REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.7")
    with tenant_context(tenant):
        assert AuditEvent.objects.get(action="api_token.created").ip == "203.0.113.7"


def test_command_channel_and_explicit_actor(tenant, tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
                    "discount_percent,discount_due_date\nINV-1,C-1,Acme,2026-01-01,2026-01-31,10.00,USD,,,\n")
    call_command("import_invoices", "--tenant", tenant.slug, str(path), stdout=io.StringIO())
    with tenant_context(tenant):
        event = AuditEvent.objects.get(action="invoice_import.completed")
        assert event.channel == "command" and event.actor_id is None
        user = member(tenant, Role.AR_CLERK)
        invoice = InvoiceFactory()
        explicit = audit_event("invoice.touched", invoice, actor=user)
        assert explicit.actor_id == user.pk


def test_changes_are_json_safe_and_diffed(in_tenant):
    invoice = InvoiceFactory(amount=Decimal("10.00"), due_date=date(2026, 3, 1), issue_date=date(2026, 2, 1))
    before = snapshot(invoice, ["amount", "due_date", "po_number"])
    invoice.amount = Decimal("12.50")
    invoice.due_date = date(2026, 3, 15)
    changes = diff(invoice, before, ["amount", "due_date", "po_number"])
    assert set(changes) == {"amount", "due_date"}
    event = audit_event("invoice.updated", invoice, changes)
    event.refresh_from_db()
    assert event.changes == {"amount": ["10.00", "12.50"], "due_date": ["2026-03-01", "2026-03-15"]}


def test_events_are_tenant_scoped(tenant, other_tenant, rls_probe):
    with tenant_context(tenant), origin_context(RequestOrigin(channel="system")):
        audit_event("invoice.created", InvoiceFactory())
    with tenant_context(other_tenant):
        assert AuditEvent.objects.count() == 0
        assert AuditEvent.unscoped.count() == 0


def test_app_role_cannot_rewrite_history(in_tenant):
    event = audit_event("invoice.created", InvoiceFactory())
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).update(action="invoice.forged")
    with pytest.raises(DatabaseError, match="permission denied"), transaction.atomic():
        AuditEvent.objects.filter(pk=event.pk).delete()
    event.refresh_from_db()
    assert event.action == "invoice.created"


@pytest.mark.django_db(databases=["default", "owner"])
def test_even_the_owner_cannot_update_or_delete_events():
    """The trigger refuses UPDATE and DELETE whoever asks (the owner bypasses privileges and RLS)."""
    owner = connections["owner"]
    for statement in ("UPDATE o2c_auditevent SET action = 'x'", "DELETE FROM o2c_auditevent"):
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(using="owner"):
            with owner.cursor() as cursor:
                cursor.execute(statement)
