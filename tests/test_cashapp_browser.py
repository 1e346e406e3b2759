"""A clerk's day of cash application in Debian's Chromium (Playwright).

A bank statement arrives; the run after the import posts what it is sure of. In the browser the clerk
then accepts a suggestion with the keyboard, re-splits another (adding an invoice found by search and a
deduction), rejects one, reverses a wrong application, and applies a payment from the unapplied-cash
list by hand. After each step the database is checked.
"""

import re
from decimal import Decimal

import pytest

from cashapp.models import Application, MatchingRun, Suggestion
from deductions.models import Deduction
from o2c.models import Customer, Invoice, Role
from o2c.tenancy import tenant_context
from payments.models import Payment
from tests.cashapp_support import Credit, import_credits
from tests.test_browser import page, sign_in, totp_now  # noqa: F401 - `page` is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
D = Decimal


def invoice(customer, number, amount):
    return Invoice.objects.create(number=number, customer=customer, issue_date="2026-10-01", due_date="2026-10-31",
                                  amount=D(amount), open_balance=D(amount), currency="USD")


def seed(tenant):
    with tenant_context(tenant):
        wayne = Customer.objects.create(name="Wayne Enterprises", external_id="C-1")
        stark = Customer.objects.create(name="Stark Industries", external_id="C-2")
        invoice(wayne, "INV-1001", "1000.00")
        invoice(wayne, "INV-1002", "250.00")
        invoice(wayne, "INV-1003", "400.00")
        invoice(stark, "INV-2001", "500.00")
        invoice(stark, "INV-2002", "500.00")
        invoice(stark, "INV-2003", "120.00")
        invoice(stark, "INV-2004", "80.00")
        import_credits([
            Credit("AUTO-1", "1000.00", payer="WAYNE ENTERPRISES", invoices=(("INV-1001", "1000.00"),)),
            Credit("TWIN-1", "500.00", payer="STARK INDUSTRIES", text="thank you"),  # two 500.00 invoices
            Credit("SHORT-1", "630.00", payer="Wayne Enterprises", text="2 cases damaged"),
            Credit("ODD-1", "77.00", payer="Stark Industries"),
            Credit("LOST-1", "120.00", payer="Unknown Trading GmbH", text="transfer"),
        ])


def test_a_clerks_day_of_cash_application(live_server, tenant, member_factory, page):  # noqa: F811
    seed(tenant)
    member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")
    with tenant_context(tenant):
        run = MatchingRun.objects.get()
        assert (run.status, run.auto_applied) == ("done", 1)  # AUTO-1 posted by the run after the import
        assert Suggestion.objects.filter(payment__bank_reference="TWIN-1", status="pending").count() == 2

    sign_in(page, live_server.url, "clerk@acme.test")
    page.wait_for_url(re.compile(r"/mfa/"))
    page.fill("input[name=token]", totp_now(page.locator("#totp-secret").inner_text().strip()))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.click("nav.nav >> text=Cash application")
    page.wait_for_url(re.compile(r"/cash-application/$"))
    assert "1 applied automatically" in page.locator(".run-status").first.inner_text()
    twin = page.locator("article[data-payment='TWIN-1']")
    assert twin.locator(".proposal").count() == 2 and "ambiguous" in twin.inner_text()

    # 1. Accept TWIN-1's first answer with the keyboard: focus its card, press a.
    twin.focus()
    first_invoice = twin.locator(".proposal").first.locator("td.mono").first.inner_text()
    page.keyboard.press("a")
    page.wait_for_function("() => !document.querySelector(\"article[data-payment='TWIN-1']\")")
    with tenant_context(tenant):
        app = Application.objects.get(payment__bank_reference="TWIN-1")
        assert (app.invoice.number, app.applied_amount, app.source) == (first_invoice, D("500"), "confirmed")

    # 2. Re-split SHORT-1 (630.00): INV-1002 in full, INV-1003 380.00 paid with a 20.00 damaged deduction.
    with tenant_context(tenant):
        short_id = Payment.objects.get(bank_reference="SHORT-1").pk
        inv_2003 = Invoice.objects.get(number="INV-2003").pk
    page.goto(f"{live_server.url}/cash-application/payments/{short_id}/")
    page.locator(".js-remove-row").evaluate_all("rows => rows.forEach(r => r.click())")
    page.keyboard.press("/")
    page.keyboard.type("INV-100")
    results = page.locator("#invoice-results")
    results.locator("tr:has-text('INV-1002') button").click()
    page.wait_for_function("() => document.querySelectorAll('#alloc-rows tr').length === 1")
    results.locator("tr:has-text('INV-1003') button").click()
    page.wait_for_function("() => document.querySelectorAll('#alloc-rows tr').length === 2")
    second = page.locator("#alloc-rows tr").nth(1)
    second.locator("input[name=applied]").fill("380.00")
    second.locator("input[name=deduction]").fill("20.00")
    second.locator("select[name=reason]").select_option("damaged")
    page.click("[data-testid=apply]")
    page.wait_for_selector("[data-testid=applications]")
    assert page.locator("[data-testid=unapplied]").inner_text().startswith("0.00")
    with tenant_context(tenant):
        assert sorted(Application.objects.filter(payment__bank_reference="SHORT-1").values_list(
            "invoice__number", "applied_amount", "deduction_amount")) == [
            ("INV-1002", D("250"), D("0")), ("INV-1003", D("380"), D("20"))]
        deduction = Deduction.objects.get()
        assert (deduction.reason, deduction.reason_text) == ("damaged", "2 cases damaged")
        assert Invoice.objects.get(number="INV-1003").open_balance == 0

    # 3. Reverse it again from the workspace: it was the wrong split after all.
    page.locator("tr:has-text('INV-1003') input[name=reason]").fill("wrong split")
    page.locator("tr:has-text('INV-1003') button:has-text('Reverse')").click()
    page.wait_for_selector("text=Reversed the application to invoice INV-1003")
    with tenant_context(tenant):
        assert Deduction.objects.get().status == "cancelled"
        assert Invoice.objects.get(number="INV-1003").open_balance == D("400")
        assert Payment.objects.get(bank_reference="SHORT-1").unapplied_amount == D("380")

    # 4. Reject ODD-1's suggestion in the queue with the keyboard.
    page.goto(f"{live_server.url}/cash-application/")
    odd = page.locator("article[data-payment='ODD-1']")
    assert "no invoice matches the amount" in odd.inner_text()
    odd.focus()
    page.keyboard.press("r")
    page.wait_for_function("() => !document.querySelector(\"article[data-payment='ODD-1'] .proposal\")")
    with tenant_context(tenant):
        assert Suggestion.objects.get(payment__bank_reference="ODD-1").status == "rejected"

    # 5. Apply LOST-1 by hand from the unapplied-cash list: the clerk recognises it as Stark's INV-2003.
    page.click("nav.tabs >> text=Unapplied cash")
    page.click("text=LOST-1")
    # The matcher only dared suggest it (payer unknown); the clerk clears that and searches themselves.
    assert "only open invoice of this amount" in page.locator(".proposal").inner_text()
    page.locator(".js-remove-row").evaluate_all("rows => rows.forEach(r => r.click())")
    page.fill("#invoice-search", "120")
    page.locator("#invoice-results tr:has-text('INV-2003') button").click()
    page.wait_for_function("() => document.querySelectorAll('#alloc-rows tr').length === 1")
    page.click("[data-testid=apply]")
    page.wait_for_selector("[data-testid=applications]")
    with tenant_context(tenant):
        lost = Payment.objects.get(bank_reference="LOST-1")
        assert (lost.status, lost.customer.name) == ("applied", "Stark Industries")
        # The clerk's confirmation taught the matcher the new payer name.
        assert lost.customer.aliases.filter(alias="Unknown Trading GmbH", source="learned").exists()

    # The invoice page shows the payment that settled it.
    page.goto(f"{live_server.url}/invoices/{inv_2003}/")
    assert "LOST-1" in page.locator("[data-testid=invoice-applications]").inner_text()
