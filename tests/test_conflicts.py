"""Conflicts are their own error class (409), and a service that raises leaves nothing behind, also when a
view catches the error and the request's transaction goes on to commit."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import path, reverse
from rest_framework.response import Response

from cashapp.models import Application, CashAppSettings
from deductions.models import Deduction
from o2c.access import invoice_scope
from o2c.api import TenantAPIView
from o2c.errors import ConflictError
from o2c.ledger.posting import Line, Posting, post
from o2c.models import AuditEvent, Invitation, Role
from o2c.services.invoices import invoice_void
from o2c.services.tenants import api_token_create, invitation_create, invitation_revoke
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.factories import InvoiceFactory

pytestmark = pytest.mark.django_db


class _VoidApi(TenantAPIView):
    """A test-only endpoint on the real API base class: the error handler is what is under test."""

    capability = "invoices.import"

    def post(self, request, invoice_id):
        invoice = invoice_scope(request.membership).get(pk=invoice_id)
        return Response({"status": invoice_void(invoice=invoice, actor=None).status})


urlpatterns = [path("void/<int:invoice_id>/", _VoidApi.as_view(), name="test_void")]


@pytest.mark.urls(__name__)
def test_a_conflict_is_a_409_from_the_api(tenant, member_factory):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        invoice = InvoiceFactory(number="INV-V1")
        _, key = api_token_create(name="ERP", role=Role.AR_CLERK, created_by=admin)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    url = reverse("test_void", args=[invoice.pk])
    assert client.post(url).json() == {"status": "void"}
    again = client.post(url)
    assert again.status_code == 409
    assert again.json()["detail"] == "invoice INV-V1 is void; only an untouched open invoice can be voided"
    with tenant_context(tenant):
        assert AuditEvent.objects.filter(action="invoice.voided").count() == 1


@pytest.fixture
def worked_deduction(tenant):
    """An application whose deduction a clerk is researching: reversing it must be refused."""
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        invoice = InvoiceFactory(amount=Decimal("100.00"))
        import_credits([Credit("W1", "90.00")])
        payment = Payment.objects.get()
        [app_id] = post([Posting(payment.pk, [Line(invoice.pk, Decimal("90.00"), deduction=Decimal("10.00"),
                                                   deduction_reason="pricing")], "manual")]).application_ids[payment.pk]
        with connection.cursor() as cursor:
            cursor.execute("UPDATE deductions_deduction SET status = 'in_research' WHERE tenant_id = %s", [tenant.pk])
    return app_id, payment


@pytest.mark.parametrize("htmx", [True, False])
def test_a_refused_reversal_from_the_page_writes_nothing(tenant, member_factory, verified_client, worked_deduction,
                                                        htmx):
    app_id, payment = worked_deduction
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    response = client.post(reverse("cashapp:application_reverse", args=[app_id]), {"reason": "wrong"}, **headers)
    if htmx:
        assert response.status_code == 409
        assert "is being worked" in response.content.decode()
    else:
        assert response.status_code == 302
        page = client.get(response["Location"]).content.decode()
        assert "is being worked" in page and "resolve it first" in page
    # The reversal's journal row and balances were written before the deductions app refused; all rolled back,
    # though the view caught the error and the request's transaction committed.
    with tenant_context(tenant):
        assert not Application.objects.filter(reverses_id=app_id).exists()
        assert Payment.objects.get(pk=payment.pk).unapplied_amount == 0
        assert Deduction.objects.get().status == "in_research"
        assert not AuditEvent.objects.filter(action="application.reversed").exists()


def test_an_invitation_revoked_once_accepted_is_a_conflict(tenant, member_factory, verified_client):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        invitation_create(email="new@example.test", role=Role.AR_CLERK, invited_by=admin)
        invitation = Invitation.objects.get()
        Invitation.objects.filter(pk=invitation.pk).update(accepted_at=invitation.created_at)
        with pytest.raises(ConflictError, match="already been accepted"):
            invitation_revoke(invitation=invitation, actor=admin)
    client = verified_client(admin)
    response = client.post(reverse("invitation_new"), {"email": admin.email, "role": Role.AR_CLERK})
    assert response.status_code == 409 and "is already a member of this tenant" in response.content.decode()
