"""A customer files a dispute in the portal (Debian's Chromium through Playwright) and, with the page left
open, sees a clerk's status changes and answer arrive without reloading (htmx polling of the case's
status and thread). The tenant has the default triage rules, so filing is followed by a real rule run
(Celery eager) that routes the dispute and moves it to "Triaged" before the clerk touches it."""

import re
from decimal import Decimal

import pytest
from playwright.sync_api import expect

from disputes import services
from disputes.models import Dispute
from o2c.models import Customer, Invoice, Role
from o2c.rules import latest_triage
from o2c.rules.services import triage_defaults_install
from o2c.tenancy import tenant_context
from tests.test_browser import page, sign_in  # noqa: F401 - `page` is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_customer_files_a_dispute_and_sees_the_clerk_work_it_live(live_server, tenant, member_factory, page):  # noqa: F811
    with tenant_context(tenant):
        triage_defaults_install()
        buyer = Customer.objects.create(name="Acme Retail", external_id="C-100")
        other = Customer.objects.create(name="Bolt Hardware", external_id="C-200")
        for number, customer in (("INV-1001", buyer), ("INV-1002", buyer), ("BOLT-1", other)):
            Invoice.objects.create(number=number, customer=customer, issue_date="2026-11-01", due_date="2026-12-01",
                                   amount=Decimal("500.00"), open_balance=Decimal("500.00"), currency="USD")
    member_factory(tenant, Role.PORTAL_USER, email="ap@acme-retail.test", customer=buyer)
    clerk = member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")

    sign_in(page, live_server.url, "ap@acme-retail.test")
    page.wait_for_url(re.compile(rf"/customers/{buyer.pk}/$"))
    page.click("nav.nav >> text=Disputes")
    page.wait_for_url(re.compile(r"/disputes/portal/$"))
    page.click("text=File a dispute")
    form = page.get_by_test_id("dispute-form")
    assert "BOLT-1" not in form.inner_text()  # only the customer's own invoices are offered
    page.get_by_label("Disputed amount on INV-1001").fill("120.00")
    page.get_by_label("Disputed amount on INV-1002").fill("30.00")
    page.select_option("#id_reason", "pricing")
    page.fill("#id_message", "The price list of October was not applied.")
    page.click("text=File dispute")
    page.wait_for_url(re.compile(r"/disputes/portal/\d+/$"))
    expect(page.get_by_test_id("dispute-status")).to_have_text("Triaged")  # the rules ran after the filing
    with tenant_context(tenant):
        dispute = Dispute.objects.get()
        assert (dispute.amount, dispute.channel, dispute.customer_id) == (Decimal("150.00"), "portal", buyer.pk)
        assert (dispute.queue, latest_triage("dispute", dispute.pk).rules_fired) == ("disputes", ["Everything else"])

    page.evaluate("window.keptOpen = true")  # gone if the page were reloaded
    with tenant_context(tenant):  # the clerk works the case meanwhile (committed: the live server sees it)
        services.dispute_transition(dispute=dispute, name="start_review", actor=clerk)
        services.message_post(dispute=dispute, body="Internal: check the October list", actor=clerk,
                              from_customer=False, internal=True)
        services.message_post(dispute=dispute, body="We are checking the October price list.", actor=clerk,
                              from_customer=False)
    expect(page.get_by_test_id("dispute-status")).to_have_text("In review")
    expect(page.get_by_test_id("dispute-thread")).to_contain_text("We are checking the October price list.")
    assert "Internal: check" not in page.get_by_test_id("dispute-thread").inner_text()
    with tenant_context(tenant):
        services.dispute_resolve(dispute=dispute, resolution="partly_accepted", accepted_amount=Decimal("100.00"),
                                 actor=clerk)
    expect(page.get_by_test_id("dispute-status")).to_have_text("Resolved")
    expect(page.get_by_test_id("dispute-resolution")).to_have_text("Partly accepted")
    assert page.evaluate("window.keptOpen") is True
