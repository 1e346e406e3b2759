"""Cash-application pages: wiring, roles, errors shown, settings."""

from decimal import Decimal

import pytest
from django.urls import reverse

from cashapp.models import CashAppSettings, Suggestion
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import ledger_with_one_suggestion
from tests.factories import InvoiceFactory


@pytest.fixture
def ledger(tenant):
    return ledger_with_one_suggestion(tenant)


def test_pages_render_for_a_clerk(tenant, member_factory, verified_client, ledger):
    invoice, payment, _ = ledger
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    queue = client.get(reverse("cashapp:index")).content.decode()
    assert "amount equal; payer name similar" in queue and "V1" in queue and "70 %" in queue
    assert "V1" in client.get(reverse("cashapp:unapplied")).content.decode()
    page = client.get(reverse("cashapp:payment", args=[payment.pk])).content.decode()
    assert "INV-7" in page and 'name="suggestion"' in page
    results = client.get(reverse("cashapp:invoice_search"), {"q": "INV-"}).content.decode()
    assert "INV-7" in results


def test_a_refused_resplit_is_shown_and_writes_nothing(tenant, member_factory, verified_client, ledger):
    _, payment, suggestion = ledger
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    response = client.post(reverse("cashapp:payment_apply", args=[payment.pk]), {
        "suggestion": suggestion.pk, "invoice": ["INV-7"], "applied": ["150.00"], "deduction": ["0"], "reason": [""]})
    assert response.status_code == 422
    assert "payment has 100.00 unapplied, 150.00 asked" in response.content.decode()
    response = client.post(reverse("cashapp:payment_apply", args=[payment.pk]), {
        "invoice": ["NOPE-1"], "applied": ["1"], "deduction": ["0"], "reason": [""]})
    assert "invoice NOPE-1 not found" in response.content.decode()
    with tenant_context(tenant):
        assert Payment.objects.get().status == "unapplied"


def test_accepting_twice_is_a_conflict(tenant, member_factory, verified_client, ledger):
    _, _, suggestion = ledger
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    url = reverse("cashapp:suggestion_accept", args=[suggestion.pk])
    assert client.post(url, HTTP_HX_REQUEST="true").status_code == 200
    second = client.post(url, HTTP_HX_REQUEST="true")
    assert second.status_code == 409 and "accepted already" in second.content.decode()


@pytest.mark.parametrize("role, get_status, post_status", [
    (Role.FINANCE_LEAD, 200, 403), (Role.COLLECTOR, 403, 403), (Role.PORTAL_USER, 403, 403)])
def test_roles(tenant, member_factory, verified_client, ledger, role, get_status, post_status):
    _, payment, suggestion = ledger
    with tenant_context(tenant):
        customer = InvoiceFactory().customer if role == Role.PORTAL_USER else None
    client = verified_client(member_factory(tenant, role, customer=customer))
    assert client.get(reverse("cashapp:index")).status_code == get_status
    assert client.post(reverse("cashapp:suggestion_accept", args=[suggestion.pk])).status_code == post_status
    with tenant_context(tenant):
        assert Suggestion.objects.get().status == "pending"


def test_admin_changes_the_threshold(tenant, member_factory, verified_client, ledger):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    client = verified_client(admin)
    response = client.post(reverse("cashapp:settings"), {
        "auto_apply_threshold": "0.950", "write_off_tolerance": "5.00", "discount_grace_days": "2",
        "send_receipts": "on"})
    assert response.status_code == 302
    with tenant_context(tenant):
        row = CashAppSettings.objects.get()
        assert (row.auto_apply_threshold, row.write_off_tolerance, row.match_after_import) == (
            Decimal("0.950"), Decimal("5.00"), False)
        assert AuditEvent.objects.filter(action="cashapp_settings.updated", actor=admin).exists()
    bad = client.post(reverse("cashapp:settings"), {"auto_apply_threshold": "1.5", "write_off_tolerance": "0",
                                                    "discount_grace_days": "0"})
    assert bad.status_code == 422
    clerk = verified_client(member_factory(tenant, Role.AR_CLERK, email="c2@example.test"))
    assert clerk.get(reverse("cashapp:settings")).status_code == 403


def test_run_now_while_a_run_is_in_progress_says_it_queued_behind_it(tenant, member_factory, verified_client, ledger):
    from cashapp.models import MatchingRun

    client = verified_client(member_factory(tenant))
    with tenant_context(tenant):
        running = MatchingRun.objects.create(trigger="import")
        MatchingRun.objects.filter(pk=running.pk).update(status="running")
    page = client.post(reverse("cashapp:run_start"), follow=True).content.decode()
    assert f"Matching run {running.pk} is in progress" in page
    assert "is queued behind it" in page
    with tenant_context(tenant):
        assert MatchingRun.objects.filter(status="queued").count() == 1


def test_a_reversal_reason_longer_than_the_column_is_refused_not_cut(tenant, member_factory, verified_client, ledger):
    from cashapp.models import Application
    from cashapp.services import payment_apply

    invoice, payment, _ = ledger
    user = member_factory(tenant)
    client = verified_client(user)
    with tenant_context(tenant):
        [application] = payment_apply(payment=payment, actor=user, allocations=[
            {"invoice_id": invoice.pk, "applied": "100.00", "deduction": "0", "deduction_reason": ""}])
    page = client.post(reverse("cashapp:application_reverse", args=[application.pk]), {"reason": "x" * 201},
                       follow=True).content.decode()
    assert "reason: is 201 characters long; at most 200 are allowed" in page
    with tenant_context(tenant):
        assert not Application.objects.filter(reverses=application).exists()
