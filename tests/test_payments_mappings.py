"""Saved CSV mappings: a clerk describes a bank's export, previews it on a sample, saves it, uploads with it."""

from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from cashapp.models import CashAppSettings
from o2c.models import AuditEvent, Role
from o2c.tenancy import tenant_context
from payments.models import BankCsvMapping, Payment

SAMPLE = (b"Buchungstag;Betrag;Auftraggeber;Verwendungszweck;Referenz\n"
          b"03.11.2026;1.234,56;Wayne Enterprises;RE INV-0042;B-1\n"
          b"04.11.2026;-20,00;Bank fee;;B-2\n")
GERMAN = {"name": "Sparkasse CSV", "date": "Buchungstag", "amount": "Betrag", "payer_name": "Auftraggeber",
          "text": "Verwendungszweck", "reference": "Referenz", "date_format": "%d.%m.%Y", "decimal_separator": ",",
          "thousands_separator": ".", "delimiter": ";", "default_currency": "EUR", "bank": "sparkasse",
          "channel": "wire"}


@pytest.fixture
def clerk(tenant, member_factory, verified_client):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
    return verified_client(member_factory(tenant, Role.AR_CLERK))


def test_preview_reads_the_sample_and_stores_nothing(tenant, clerk):
    response = clerk.post(reverse("payments:mapping_new"),
                          {**GERMAN, "preview": "1", "sample": SimpleUploadedFile("sample.csv", SAMPLE)})
    page = response.content.decode()
    assert response.status_code == 200, page
    assert 'id="mapping-preview"' in page and "1,234.56 EUR" in page and "Wayne Enterprises" in page
    assert "B-2" in page and "debit" in page  # the fee row is read too (and skipped at import as a debit)
    with tenant_context(tenant):
        assert not BankCsvMapping.objects.exists()


def test_a_sample_the_mapping_cannot_read_names_the_line_and_column(tenant, clerk):
    wrong = {**GERMAN, "date_format": "%Y-%m-%d"}
    response = clerk.post(reverse("payments:mapping_new"),
                          {**wrong, "preview": "1", "sample": SimpleUploadedFile("sample.csv", SAMPLE)})
    page = response.content.decode()
    assert response.status_code == 422
    assert "line 2" in page and "Buchungstag" in page and "03.11.2026" in page


@pytest.mark.parametrize(("change", "message"), [
    ({"amount": ""}, "name an amount column, or credit and/or debit columns"),
    ({"credit": "Haben"}, "not both"),
    ({"date_format": "%d.%m"}, "does not read back a full date"),
    ({"thousands_separator": ","}, "cannot be the decimal separator"),
    ({"default_currency": "EU1"}, "three-letter ISO code"),
])
def test_an_unusable_mapping_is_refused_by_name(tenant, clerk, change, message):
    response = clerk.post(reverse("payments:mapping_new"), {**GERMAN, **change, "save": "1"})
    assert response.status_code == 422
    assert message in response.content.decode()
    with tenant_context(tenant):
        assert not BankCsvMapping.objects.exists()


def test_saved_mapping_is_audited_listed_edited_and_used_by_the_upload(tenant, clerk,
                                                                       django_capture_on_commit_callbacks):
    response = clerk.post(reverse("payments:mapping_new"), {**GERMAN, "save": "1"})
    assert response.status_code == 302 and response["Location"] == reverse("payments:mappings")
    with tenant_context(tenant):
        saved = BankCsvMapping.objects.get()
        assert saved.mapping["date_format"] == "%d.%m.%Y" and saved.mapping["delimiter"] == ";"
        assert AuditEvent.objects.filter(action="bank_csv_mapping.created").count() == 1
    assert "Sparkasse CSV" in clerk.get(reverse("payments:mappings")).content.decode()
    # The same name twice is refused; an edit is audited with what changed.
    again = clerk.post(reverse("payments:mapping_new"), {**GERMAN, "save": "1"})
    assert again.status_code == 422 and "exists already" in again.content.decode()
    edit_url = reverse("payments:mapping_edit", args=[saved.pk])
    assert 'value="Buchungstag"' in clerk.get(edit_url).content.decode()
    assert clerk.post(edit_url, {**GERMAN, "channel": "ach", "save": "1"}).status_code == 302
    with tenant_context(tenant):
        event = AuditEvent.objects.get(action="bank_csv_mapping.changed")
        assert event.changes == {"mapping.channel": ["wire", "ach"]}
    with django_capture_on_commit_callbacks(execute=True):
        clerk.post(reverse("payments:upload"), {"file": SimpleUploadedFile("export.csv", SAMPLE),
                                                "mapping": saved.pk})
    with tenant_context(tenant):
        payment = Payment.objects.get()
        assert (payment.bank_reference, payment.amount, payment.currency, payment.channel) == (
            "B-1", Decimal("1234.56"), "EUR", "ach")


def test_viewers_see_mappings_but_cannot_change_them(tenant, member_factory, verified_client):
    lead = verified_client(member_factory(tenant, Role.FINANCE_LEAD))
    assert lead.get(reverse("payments:mappings")).status_code == 200
    assert lead.get(reverse("payments:mapping_new")).status_code == 403
