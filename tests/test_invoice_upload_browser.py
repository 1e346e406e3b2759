"""A big invoice file in Debian's Chromium: the clerk uploads it, watches the progress page poll while the
task has not run, and sees the outcome swap in once it has; no console or CSP error on the way."""

import re

import pytest

from o2c import views
from o2c.models import Invoice, InvoiceUpload, Role
from o2c.tasks import invoice_upload_import
from o2c.tenancy import tenant_context
from tests.test_browser import page, sign_in, totp_now  # noqa: F401 - `page` is a fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date\n")
CSV = HEADER + "".join(f"INV-{i},C-{i % 3},Customer {i % 3},2026-01-01,2026-01-31,{i}.00,USD,,,\n"
                       for i in range(1, 41))


def test_big_invoice_file_progress_page_polls_until_the_import_is_done(
        live_server, tenant, member_factory, page, settings, monkeypatch, tmp_path):  # noqa: F811
    settings.O2C_INVOICE_IMPORT_INLINE_BYTES = 100  # this file goes to the background
    queued = []
    # The task is held back (not replaced): the test runs the real task once the page is polling.
    monkeypatch.setattr(views.invoice_upload_import, "delay", lambda *args: queued.append(args))
    member_factory(tenant, Role.AR_CLERK, email="clerk@acme.test")
    sign_in(page, live_server.url, "clerk@acme.test")
    page.wait_for_url(re.compile(r"/mfa/"))
    page.fill("input[name=token]", totp_now(page.locator("#totp-secret").inner_text().strip()))
    page.click("form:has(input[name=token]) button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")

    csv_file = tmp_path / "erp-open-items.csv"
    csv_file.write_text(CSV)
    page.goto(f"{live_server.url}/invoices/import/")
    page.set_input_files("input[type=file]", str(csv_file))
    page.click("form[enctype] button[type=submit]")
    page.wait_for_url(re.compile(r"/invoices/import/uploads/\d+/$"))
    status = page.locator("[data-testid=invoice-upload-status]")
    assert "Importing" in status.inner_text() and "of about 40 rows" in status.inner_text()
    assert page.locator("progress").count() == 1

    assert len(queued) == 1
    invoice_upload_import.apply(args=queued[0])  # the real task, as a worker would run it
    page.wait_for_function("() => document.querySelector('[data-testid=invoice-upload-status]')"
                           ".innerText.includes('Imported')", timeout=10_000)
    assert "40 new, 0 updated, 0 unchanged invoices; 3 new customers" in status.inner_text()
    with tenant_context(tenant):
        assert Invoice.objects.count() == 40 and InvoiceUpload.objects.get().status == "done"
