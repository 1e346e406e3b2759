"""Big invoice files go to the background import: the clerk follows the rows stored so far, then the outcome;
a refused file lists its bad lines and stores nothing, as the inline import does."""

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from o2c.models import AuditEvent, Invoice, InvoiceUpload, Role
from o2c.services import invoice_import
from o2c.services.invoice_import import (
    invoice_import_csv,
    invoice_upload_create,
    invoice_upload_process,
    invoice_upload_progress_key,
)
from o2c.tenancy import tenant_context

pytestmark = pytest.mark.django_db

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date\n")
GOOD = HEADER + "".join(f"INV-{i},C-{i % 2},Customer {i % 2},2026-01-01,2026-01-31,{i}00.00,USD,,,\n"
                        for i in range(1, 6))
BAD = HEADER + ("INV-1,C-1,Acme,2026-01-01,2026-01-31,100.00,USD,,,\n"
                "INV-2,C-1,Acme,2026-01-05,2026-01-01,100.00,USD,,,\n"
                "INV-3,C-1,Acme,2026-01-05,2026-02-01,12.345,USD,,,\n")


@pytest.fixture
def background(settings):
    settings.O2C_INVOICE_IMPORT_INLINE_BYTES = 10  # every file of these tests is "big"


@pytest.fixture
def clerk_client(tenant, member_factory, verified_client):
    return verified_client(member_factory(tenant, Role.AR_CLERK))


def _post(client, text, name="erp-invoices.csv"):
    return client.post(reverse("invoice_import"), {"file": SimpleUploadedFile(name, text.encode())})


def test_big_file_is_imported_in_the_background_and_followed(tenant, background, clerk_client,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _post(clerk_client, GOOD)
    assert response.status_code == 302
    status_url = response["Location"]
    page = clerk_client.get(status_url).content.decode()
    assert "Importing" in page and 'hx-trigger="every 1s"' in page
    assert 'of about <span class="num">5</span> rows' in page
    with tenant_context(tenant):
        assert not Invoice.objects.exists()  # nothing until the task runs
    assert len(callbacks) == 1
    callbacks[0]()  # the Celery task, eager as in tests
    page = clerk_client.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Imported" in page and "5 new, 0 updated, 0 unchanged invoices; 2 new customers" in page
    assert "hx-trigger" not in page
    with tenant_context(tenant):
        upload = InvoiceUpload.objects.get()
        assert (upload.status, bytes(upload.content), upload.invoice_import.created_invoices) == ("done", b"", 5)
        assert Invoice.objects.count() == 5
        # The import's one event, naming the clerk whose upload the task ran; the invoices carry the batch.
        event = AuditEvent.objects.get(action="invoice_import.completed")
        assert event.actor == upload.uploaded_by and event.object_id == upload.invoice_import_id
        assert set(Invoice.objects.values_list("import_batch_id", flat=True)) == {upload.invoice_import_id}
        assert invoice_upload_process(upload_id=upload.pk).status == "done"  # a redelivered task changes nothing
        assert Invoice.objects.count() == 5


def test_refused_big_file_lists_its_bad_lines_and_stores_nothing(tenant, background, clerk_client,
                                                                  django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(clerk_client, BAD, name="broken.csv")
    page = clerk_client.get(response["Location"]).content.decode()
    assert "Refused" in page and "nothing was stored" in page and "broken.csv" in page
    assert "line 3:" in page and "line 4:" in page  # the due date before the issue date, the third decimal
    with tenant_context(tenant):
        upload = InvoiceUpload.objects.get()
        assert upload.status == "failed" and bytes(upload.content) == b""
        assert len(upload.errors) == 2 and upload.errors[0].startswith("line 3:")
        assert not Invoice.objects.exists()


def test_small_files_still_import_within_the_request(tenant, clerk_client):
    response = _post(clerk_client, GOOD)
    assert response.status_code == 302 and response["Location"] == reverse("invoice_import")
    with tenant_context(tenant):
        assert Invoice.objects.count() == 5 and not InvoiceUpload.objects.exists()


def test_progress_is_reported_per_chunk_and_shown_while_queued(tenant, clerk_client, monkeypatch):
    monkeypatch.setattr(invoice_import, "CHUNK_ROWS", 2)
    seen = []
    with tenant_context(tenant):
        invoice_import_csv(data=GOOD.encode(), file_name="a.csv", progress=seen.append)
    assert seen == [2, 4, 5]

    with tenant_context(tenant):
        upload = invoice_upload_create(data=GOOD.replace("INV-", "NEW-").encode(), file_name="b.csv")
    assert upload.rows_expected == 5
    cache.set(invoice_upload_progress_key(upload), 3)
    try:
        page = clerk_client.get(reverse("invoice_upload_status", args=[upload.pk])).content.decode()
    finally:
        cache.delete(invoice_upload_progress_key(upload))
    assert 'data-testid="rows-stored">3</span>' in page and "(60 %)" in page and 'value="60"' in page


def test_another_tenants_upload_is_404(tenant, other_tenant, clerk_client):
    with tenant_context(other_tenant):
        foreign = invoice_upload_create(data=GOOD.encode(), file_name="theirs.csv")
    assert clerk_client.get(reverse("invoice_upload_status", args=[foreign.pk])).status_code == 404
