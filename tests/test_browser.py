"""End to end in Debian's Chromium through Playwright: sign-in with MFA enrolment, the customer pages,
and a portal user's view. Run alone with `pytest -m browser`. They fail, not skip, without Chromium: a
suite that silently skips its browser tests would pass while proving nothing (`make test` installs it)."""

import base64
import os
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from o2c.models import Customer, Invoice, Role
from o2c.tenancy import tenant_context
from tests.conftest import PASSWORD

# Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls there otherwise.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def page():
    from playwright import sync_api

    assert Path(CHROMIUM).exists(), f"Debian's chromium is missing at {CHROMIUM}: apt-get install chromium"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync"])
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.set_default_timeout(10_000)
        errors = []
        page.on("console", lambda msg: errors.append(msg.text)
                if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
        yield page
        context.close()
        browser.close()
        # A CSP violation (an inline style or script) shows up as a console error.
        assert not errors, errors


def totp_now(base32_secret: str) -> str:
    from django_otp.oath import totp

    key = base64.b32decode(base32_secret + "=" * (-len(base32_secret) % 8))
    return f"{totp(key, step=30, digits=6):06d}"


def seed(tenant):
    today = timezone.localdate()
    with tenant_context(tenant):
        acme = Customer.objects.create(name="Acme Retail", external_id="C-100", credit_limit=Decimal("5000"))
        Customer.objects.create(name="Bolt Hardware", external_id="C-200")
        Invoice.objects.bulk_create([
            Invoice(number=f"INV-{n}", customer=acme, issue_date=today - timedelta(days=30 + age),
                    due_date=today - timedelta(days=age), amount=Decimal(amount), open_balance=Decimal(amount),
                    currency="USD")
            for n, age, amount in [(1001, -10, "1200.00"), (1002, 20, "800.00"), (1003, 75, "450.50")]
        ])
    return acme


def sign_in(page, base_url, email):
    page.goto(f"{base_url}/login/")
    page.fill("input[name=username]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def test_staff_signs_in_with_mfa_and_works_a_customer(live_server, tenant, member_factory, page):
    seed(tenant)
    member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")

    sign_in(page, live_server.url, "clerk@acme.test")
    page.wait_for_url(re.compile(r"/mfa/"))
    secret = page.locator("#totp-secret").inner_text().strip()
    page.fill("input[name=token]", totp_now(secret))
    page.click("form:has(input[name=token]) button[type=submit]")

    page.wait_for_url(f"{live_server.url}/")
    assert page.locator("h1.page-title").inner_text() == "Dashboard"
    assert page.locator(".aging-chart").count() == 1

    page.click("nav.nav >> text=Customers")
    page.wait_for_url(re.compile(r"/customers/$"))
    page.fill("#customer-search", "acme")  # htmx live search swaps the rows
    page.wait_for_function("() => !document.querySelector('#customer-rows').innerText.includes('Bolt Hardware')")
    rows = page.locator("#customer-rows tr")
    assert rows.count() == 1 and "Acme Retail" in rows.inner_text()
    assert "q=acme" in page.url  # the search is in the address bar

    page.click("#customer-rows >> text=Acme Retail")
    page.wait_for_url(re.compile(r"/customers/\d+/$"))
    assert page.locator("#customer-balance").inner_text().startswith("2,450.50")
    assert page.locator(".aging-chart .aging-bar").count() == 5
    table = page.locator("#customer-invoices").inner_text()
    assert "INV-1001" in table and "INV-1002" in table and "INV-1003" in table

    page.click("nav.tabs >> text=Paid")  # htmx tab swap
    page.wait_for_function("() => !document.querySelector('#customer-invoices').innerText.includes('INV-1001')")
    assert "No invoices here" in page.locator("#customer-invoices").inner_text()


def test_portal_user_sees_only_their_own_invoices(live_server, tenant, member_factory, page):
    acme = seed(tenant)
    with tenant_context(tenant):
        bolt = Customer.objects.get(external_id="C-200")
        Invoice.objects.create(number="BOLT-1", customer=bolt, issue_date=timezone.localdate(),
                               due_date=timezone.localdate(), amount=Decimal("99"), open_balance=Decimal("99"),
                               currency="USD")
    member_factory(tenant, Role.PORTAL_USER, email="ap@acme-retail.test", customer=acme)

    sign_in(page, live_server.url, "ap@acme-retail.test")
    page.wait_for_url(re.compile(rf"/customers/{acme.pk}/$"))  # no MFA demanded, straight to the statement
    assert "Acme Retail" in page.locator("h1.page-title").inner_text()
    assert page.locator("nav.nav a").count() == 4  # statement, invoices, their deductions and disputes only

    page.click("nav.nav >> text=Invoices")
    page.wait_for_url(re.compile(r"/invoices/$"))
    text = page.locator("#invoice-results").inner_text()
    assert "INV-1001" in text and "BOLT-1" not in text
    response = page.goto(f"{live_server.url}/customers/{bolt.pk}/")
    assert response.status == 404
