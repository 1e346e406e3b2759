"""The portal's deductions in Chromium: the customer files one and sees its status change live. The tenant
has the default triage rules, which run (Celery eager) when the filing commits."""

import re
from decimal import Decimal

import pytest

from deductions import services
from deductions.models import Deduction
from o2c.models import Customer, Role
from o2c.rules import latest_triage
from o2c.rules.services import triage_defaults_install
from o2c.tenancy import tenant_context
from tests.test_browser import page, seed, sign_in  # noqa: F401 - the browser fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_portal_user_files_a_deduction_and_sees_the_decision_live(live_server, tenant, member_factory,
                                                                  page):  # noqa: F811
    acme = seed(tenant)
    with tenant_context(tenant):
        triage_defaults_install()
        bolt = Customer.objects.get(external_id="C-200")
        other = services.deduction_create_by_clerk(customer=bolt, amount=Decimal("9.00"), reason="tax", actor=None)
    member_factory(tenant, Role.PORTAL_USER, email="ap@acme-retail.test", customer=acme)
    sign_in(page, live_server.url, "ap@acme-retail.test")
    page.wait_for_url(re.compile(rf"/customers/{acme.pk}/$"))

    page.click("nav.nav >> text=Deductions")
    page.wait_for_url(re.compile(r"/deductions/portal/$"))
    page.click("text=File a deduction")
    page.select_option("select[name=invoice_id]", label="INV-1002 (800.00 USD)")
    page.fill("input[name=amount]", "35.00")
    page.select_option("select[name=reason]", "damaged")
    page.fill("textarea[name=reason_text]", "two cases arrived broken")
    page.click("#file-deduction button[type=submit]")
    page.wait_for_url(re.compile(r"/deductions/portal/\d+/$"))
    with tenant_context(tenant):
        mine = Deduction.objects.get(source="portal")
    assert (mine.customer_id, mine.amount) == (acme.pk, Decimal("35.00"))
    with tenant_context(tenant):  # damage without documents: the default rules route it to logistics
        assert mine.queue == "logistics" and mine.status == "open"
        assert latest_triage("deduction", mine.pk).rules_fired == ["Proof of delivery for shortages and damage",
                                                                    "Everything else"]

    page.goto(f"{live_server.url}/deductions/portal/")
    rows = page.locator("#portal-deductions")
    assert mine.number in rows.inner_text() and other.number not in rows.inner_text()
    assert "Open" in rows.inner_text()
    with tenant_context(tenant):
        services.deduction_transition(deduction_id=mine.pk, action="invalidate", note="signed delivery note",
                                      actor=None)
    # htmx polls the rows every few seconds: the decision appears without a reload.
    page.wait_for_function("() => document.querySelector('#portal-deductions').innerText.includes('Invalid')",
                           timeout=15_000)
    response = page.goto(f"{live_server.url}/deductions/portal/{other.pk}/")
    assert response.status == 404
