"""A finance lead works the payment instructions in Debian's Chromium: approves a credit memo, writes an approved
SEPA refund into a pain.001 file and downloads it. The database is checked after each step."""

import re
from decimal import Decimal

import pytest
import xmlschema

from o2c.instructions import instruction_create
from o2c.models import CreditMemo, CustomerBankAccount, PaymentInstruction, RefundFile, Role, TreasuryAccount
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, InvoiceFactory
from tests.test_browser import page, sign_in, totp_now  # noqa: F401 - `page` is a fixture
from tests.test_instructions_files import XSD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_lead_approves_and_sends_a_refund_file(live_server, tenant, member_factory, page):  # noqa: F811
    lead = member_factory(tenant, Role.FINANCE_LEAD, email="lead@acme.test")
    with tenant_context(tenant):
        TreasuryAccount.objects.create(debtor_name="Acme Industrial GmbH", iban="DE89370400440532013000")
        customer = CustomerFactory(name="Kunde AG", currency="EUR")
        CustomerBankAccount.objects.create(customer=customer, account_identifier="NL91ABNA0417164300")
        invoice = InvoiceFactory(customer=customer, currency="EUR", amount=Decimal("900.00"))
        credit = instruction_create(kind="credit_memo", customer_id=customer.pk, amount="150.00", currency="EUR",
                                    origin_kind="dispute", origin_id=1, invoice_id=invoice.pk, actor=None)
        refund = instruction_create(kind="refund", customer_id=customer.pk, amount="42.00", currency="EUR",
                                    origin_kind="dispute", origin_id=2, actor=lead)

    sign_in(page, live_server.url, "lead@acme.test")
    page.wait_for_url(re.compile(r"/mfa/"))
    page.fill("input[name=token]", totp_now(page.locator("#totp-secret").inner_text().strip()))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    page.click("nav.nav >> text=Payment instructions")
    page.wait_for_url(re.compile(r"/payment-instructions/$"))
    assert "You may approve any amount" in page.locator("#approval-limit").inner_text()
    page.locator(f"tr[data-number='{credit.number}'] >> text=Approve").click()
    assert f"{credit.number} approved." in page.locator(".messages").inner_text()
    with tenant_context(tenant):
        assert PaymentInstruction.objects.get(pk=credit.pk).status == "done"
        assert CreditMemo.objects.get().invoice_id == invoice.pk

    page.check(f"tr[data-number='{refund.number}'] input[name=instruction_id]")
    page.select_option("#refund-format", "pain.001")
    page.click("#refund-file-form button[type=submit]")
    assert "1 refund(s) marked sent" in page.locator(".messages").inner_text()
    with tenant_context(tenant):
        refund_file = RefundFile.objects.get()
        assert PaymentInstruction.objects.get(pk=refund.pk).status == "sent"
    with page.expect_download() as download:
        page.click(f"a[href=\"/payment-instructions/refund-files/{refund_file.pk}/\"]")
    content = open(download.value.path(), encoding="utf-8").read()  # noqa: PTH123
    xmlschema.XMLSchema(str(XSD)).validate(content)
    assert refund.number in content
