"""Payments pages and API: list, upload with progress, refusal shown, roles, API import exactly once."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from cashapp.models import CashAppSettings
from o2c.models import Role
from o2c.services.tenants import api_token_create
from o2c.tenancy import tenant_context
from payments.models import BankFile, BankFileUpload, Payment
from tests.cashapp_support import Credit, camt053


@pytest.fixture
def quiet(tenant):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)


def _upload(client, data, name="statement.xml"):
    return client.post(reverse("payments:upload"), {"file": SimpleUploadedFile(name, data)})


def test_clerk_uploads_a_file_and_follows_its_progress(tenant, quiet, member_factory, verified_client,
                                                       django_capture_on_commit_callbacks):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _upload(client, camt053([Credit("U1", "10.00", payer="Initech"), Credit("U2", "5.00")]))
    assert response.status_code == 302
    status_url = response["Location"]
    # Before the task has run the page says so and polls.
    page = client.get(status_url).content.decode()
    assert "Importing" in page and 'hx-trigger="every 1s"' in page
    for callback in callbacks:  # the task, run eagerly as Celery does in tests
        callback()
    page = client.get(status_url, HTTP_HX_REQUEST="true").content.decode()
    assert "Imported" in page and "2 payments" in page and "hx-trigger" not in page
    with tenant_context(tenant):
        upload = BankFileUpload.objects.get()
        assert (upload.status, upload.content) == ("done", b"")
        assert Payment.objects.count() == 2
    listing = client.get(reverse("payments:index")).content.decode()
    assert "U1" in listing and "Initech" in listing and "statement.xml" in listing
    with tenant_context(tenant):
        bank_file = BankFile.objects.get()
    assert "U2" in client.get(reverse("payments:bank_file", args=[bank_file.pk])).content.decode()


def test_a_refused_upload_says_why_and_stores_nothing(tenant, quiet, member_factory, verified_client,
                                                      django_capture_on_commit_callbacks):
    client = verified_client(member_factory(tenant, Role.AR_CLERK))
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(client, b"<Document><nope", name="broken.xml")
    page = client.get(response["Location"]).content.decode()
    assert "Refused" in page and "broken.xml" in page and "Nothing was stored" in page
    with tenant_context(tenant):
        assert not BankFile.objects.exists() and not Payment.objects.exists()


@pytest.mark.parametrize("role, upload_status, list_status", [
    (Role.FINANCE_LEAD, 403, 200), (Role.COLLECTOR, 403, 403), (Role.TENANT_ADMIN, 200, 200)])
def test_roles(tenant, member_factory, verified_client, role, upload_status, list_status):
    client = verified_client(member_factory(tenant, role))
    assert client.get(reverse("payments:upload")).status_code == upload_status
    assert client.get(reverse("payments:index")).status_code == list_status


def test_api_imports_exactly_once_and_lists_payments(tenant, quiet, member_factory):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        _, key = api_token_create(name="ERP", role=Role.AR_CLERK, created_by=admin)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    data = camt053([Credit("API-1", "12.34", payer="Initech")])
    first = api.post("/api/v1/bank-files/", {"file": SimpleUploadedFile("s.xml", data)})
    assert first.status_code == 201 and first.json()["payments_created"] == 1
    again = api.post("/api/v1/bank-files/", {"file": SimpleUploadedFile("s2.xml", data)})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    broken = api.post("/api/v1/bank-files/", {"file": SimpleUploadedFile("b.xml", b"<Document><x")})
    assert broken.status_code == 400 and "b.xml" in broken.json()["detail"]
    listing = api.get("/api/v1/payments/").json()
    [payment] = listing["results"]
    assert (payment["bank_reference"], Decimal(payment["amount"]), payment["status"]) == (
        "API-1", Decimal("12.34"), "unapplied")
    assert api.get(f"/api/v1/payments/{payment['id']}/").json()["payer_name"] == "Initech"
