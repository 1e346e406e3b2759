"""Validation at the import boundary (issue 11, items 2, 3 and 9).

What a bank, remittance or invoice file brings is checked against what the database holds exactly: a
value that does not fit (too long, too large, too many decimals, not a currency, a control character, an
MT940 statement cut short) refuses the whole file with the line or element named, and nothing is stored. A
payment is never skipped as a duplicate unless it is the same payment. Any other failure of an import ends
as a failed upload or a 4xx with a message and a logged reference: never a 500, a traceback or a page
polling forever.
"""

import logging
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from cashapp.models import CashAppSettings
from o2c.models import Customer, Invoice, InvoiceImport, InvoiceUpload, Role
from o2c.services import invoice_import
from o2c.services.invoice_import import InvoiceFileError, invoice_import_csv
from o2c.services.tenants import api_token_create
from o2c.tenancy import tenant_context
from payments import services as payment_services
from payments.models import BankFile, BankFileUpload, Payment
from payments.services import BankFileRefused, bank_file_import
from tests.cashapp_support import Credit, camt053
from tests.test_bank_parsers import MT940, X12, _bai2
from tests.test_payments_import import _counts

pytestmark = pytest.mark.django_db

LONG = "R" * 140  # a bank reference as long as the column


_stored = _counts  # what an import stores: files, statements, payments, advice, lines


def _refused(data: bytes, name: str, mapping=None) -> str:
    """The refusal's message; asserts that nothing of the file was stored."""
    with pytest.raises(BankFileRefused) as exc:
        bank_file_import(data=data, file_name=name, csv_mapping=mapping)
    assert _stored() == (0, 0, 0, 0, 0)
    assert exc.value.message.startswith(f"{name}: ")
    return exc.value.message


# --- files of each format ---------------------------------------------------------------------------------

CSV_MAPPING = {"date": "Date", "amount": "Amount", "currency": "Currency", "reference": "Reference",
               "payer_name": "Payer", "text": "Text", "end_to_end_id": "E2E", "account": "DE89370400440532013000"}


def csv_file(*rows: dict) -> bytes:
    columns = ("Date", "Amount", "Currency", "Reference", "Payer", "Text", "E2E")
    defaults = {"Date": "2025-01-02", "Amount": "10.00", "Currency": "USD", "Payer": "Acme", "Text": "INV-1",
                "E2E": ""}
    lines = [",".join(columns)]
    for n, row in enumerate(rows, start=1):
        values = {**defaults, "Reference": f"REF-{n}", **row}
        lines.append(",".join(values[c] for c in columns))
    return ("\n".join(lines) + "\n").encode()


def camt(*credits, currency="USD") -> bytes:
    return camt053(list(credits), currency=currency)


def mt940(old: str = "", new: str = "") -> bytes:
    assert old in MT940
    return MT940.replace(old, new, 1).encode()


def bai2(old: str = "", new: str = "") -> bytes:
    data = _bai2().decode()
    assert old in data
    return data.replace(old, new, 1).encode()


# --- item 2: a payment is skipped only when it is the same payment -----------------------------------------

def test_csv_references_differing_after_140_characters_are_refused_not_skipped_as_duplicates(quiet):
    three = csv_file(*({"Reference": LONG + str(n), "Amount": "500.00"} for n in (1, 2, 3)))
    message = _refused(three, "long-refs.csv", CSV_MAPPING)
    assert "line 2: bank reference is 141 characters; at most 140 fit" in message
    # References of exactly the column's length are stored whole: three payments, none skipped.
    three = csv_file(*({"Reference": LONG[:-1] + str(n), "Amount": "500.00"} for n in (1, 2, 3)))
    bank_file = bank_file_import(data=three, file_name="refs.csv", csv_mapping=CSV_MAPPING)
    assert (bank_file.payments_created, bank_file.duplicates_skipped) == (3, 0)
    assert sum(Payment.objects.values_list("amount", flat=True)) == Decimal("1500.00")


def test_camt_references_differing_after_140_characters_are_refused_not_skipped_as_duplicates(quiet):
    three = camt(*(Credit(LONG + str(n), "500.00") for n in (1, 2, 3)))
    message = _refused(three, "long-refs.xml")
    assert "element BkToCstmrStmt/Stmt[1]/Ntry[1]" in message
    assert "bank reference is 141 characters; at most 140 fit" in message
    bank_file = bank_file_import(data=camt(*(Credit(LONG[:-1] + str(n), "500.00") for n in (1, 2, 3))),
                                 file_name="refs.xml")
    assert (bank_file.payments_created, bank_file.duplicates_skipped) == (3, 0)
    assert sorted(len(r) for r in Payment.objects.values_list("bank_reference", flat=True)) == [140] * 3


@pytest.mark.parametrize(("data", "name", "mapping", "expected"), [
    (mt940(":25:DE89370400440532013000", ":25:" + "D" * 80), "long-account.sta", None,
     "account is 80 characters; at most 70 fit"),
    (csv_file({"E2E": "E" * 141}), "long-e2e.csv", CSV_MAPPING, "line 2: end to end id is 141 characters"),
    (camt(Credit("N1", "5.00", payer="P" * 201)), "long-name.xml", None, "payer name is 201 characters"),
], ids=["mt940-account", "csv-end-to-end-id", "camt-payer-name"])
def test_a_value_longer_than_its_column_is_refused_not_cut(quiet, data, name, mapping, expected):
    assert expected in _refused(data, name, mapping)


# --- item 3: bad files are refused, not crashed on ----------------------------------------------------------

@pytest.mark.parametrize(("data", "name", "mapping", "expected"), [
    (csv_file({"Amount": "100000000000000.00"}), "big.csv", CSV_MAPPING,
     "line 2: amount 100000000000000.00 is too large"),
    (camt(Credit("B1", "100000000000000")), "big.xml", None, "Ntry[1] (line 1): amount 100000000000000.00 is too"),
    (bai2("16,195,50000,", "16,195,10000000000000000,"), "big.bai", None, "line 4: amount 100000000000000.00 is too"),
    (mt940(":60F:C250101EUR100,00", ":60F:C250101EUR100000000000000,00"), "big.sta", None,
     "opening balance 100000000000000.00 is too large"),
    (X12.replace("BPR*I*1490*", "BPR*I*100000000000000*").encode(), "big.820", None,
     "line 3: payment amount 100000000000000 is too large"),
], ids=["csv", "camt", "bai2", "mt940-balance", "x12-820"])
def test_an_amount_beyond_the_database_range_is_refused(quiet, data, name, mapping, expected):
    assert expected in _refused(data, name, mapping)


@pytest.mark.parametrize(("data", "name", "mapping", "expected"), [
    (camt(Credit("C1", "5.00"), currency="USDX"), "ccy.xml", None, "currency 'USDX' is not an ISO 4217"),
    (camt(Credit("C1", "5.00"), currency="ZZZ"), "ccy.xml", None, "currency 'ZZZ' is not an ISO 4217"),
    (csv_file({}, {"Currency": "EURO"}), "ccy.csv", CSV_MAPPING, "line 3: currency 'EURO' is not an ISO 4217"),
    # The first row's currency is also the made-up statement's: refused as the statement's, no line was named.
    (csv_file({"Currency": "USDX"}), "ccy.csv", CSV_MAPPING, "ccy.csv: line 2: currency 'USDX' is not an ISO 4217"),
    (bai2("02,O2C,BANKUS33,1,250101,2400,USD,", "02,O2C,BANKUS33,1,250101,2400,USDX,")
     .replace(b"03,1234567890,USD,", b"03,1234567890,USDX,"), "ccy.bai", None, "currency 'USDX' is not an ISO"),
    (mt940("C250101EUR100,00", "C250101XYZ100,00"), "ccy.sta", None, "currency 'XYZ' is not an ISO 4217"),
], ids=["camt-four-letters", "camt-unknown", "csv", "csv-first-row", "bai2", "mt940-unknown"])
def test_a_currency_that_is_not_iso_4217_is_refused(quiet, data, name, mapping, expected):
    assert expected in _refused(data, name, mapping)


@pytest.mark.parametrize(("data", "name", "mapping", "expected"), [
    # The MT940 parser drops control characters (SWIFT envelopes use SOH and ETX): a NUL is refused before.
    (mt940("INV-1001 and", "INV-1001\x00and"), "nul.sta", None, "line 8: NUL byte"),
    (bai2("WIRE FROM ACME", "WIRE\x00FROM ACME"), "nul.bai", None, "line 4: NUL byte"),
    (bai2("WIRE FROM ACME", "WIRE\x07FROM ACME"), "bel.bai", None, "line 4: raw contains the control character "
                                                                  "U+0007"),
    (csv_file({"Payer": "Ac\x00me"}), "nul.csv", CSV_MAPPING, "line 2: NUL byte"),
    (csv_file({"Payer": "Ac\x7fme"}), "del.csv", CSV_MAPPING, "line 2: payer name contains the control "
                                                               "character U+007F"),
    (csv_file({"Reference": "REF\x1b[2J"}), "esc.csv", CSV_MAPPING, "line 2: bank reference contains the "
                                                                    "control character U+001B"),
    (camt(Credit("C1", "5.00", payer="Ac\x00me")), "nul.xml", None, "line 1: NUL byte"),
], ids=["mt940-nul", "bai2-nul", "bai2-bel", "csv-nul", "csv-del", "csv-escape-in-reference", "camt-nul"])
def test_control_characters_are_refused_with_the_line(quiet, data, name, mapping, expected):
    assert expected in _refused(data, name, mapping)


def test_line_breaks_are_kept_in_multi_line_text_only(quiet):
    """MT940 wraps :86: over lines: the raw entry keeps them; a reference may not have one."""
    data = csv_file({"Reference": '"REF\nNEXT"'})
    assert "line 2: bank reference contains the control character U+000A" in _refused(data, "nl.csv", CSV_MAPPING)
    bank_file = bank_file_import(data=mt940(), file_name="ok.sta")
    assert bank_file.payments_created == 1 and "\n" in Payment.objects.get().raw


# --- item 9: nothing rounded, nothing cut short without a word ---------------------------------------------

@pytest.mark.parametrize(("data", "name", "mapping", "expected"), [
    (csv_file({"Amount": "10.001"}), "dec.csv", CSV_MAPPING, "line 2: amount 10.001 has more decimals than USD"),
    (camt(Credit("D1", "10.00")).replace(b">10.00<", b">10.001<"), "dec.xml", None,
     "amount 10.001 has more decimals than USD has (2)"),
    (camt(Credit("D1", "1000"), currency="JPY").replace(b">1000.00<", b">1000.5<"), "yen.xml", None,
     "amount 1000.5 has more decimals than JPY has (0)"),
    (mt940("CR250,00N", "CR250,001N"), "dec.sta", None, "line 6: amount 250.001 has more decimals than EUR"),
    (X12.replace("RMR*IV*INV-2**490*500~", "RMR*IV*INV-2**490.005*500~").encode(), "dec.820", None,
     "line 3: remittance line 2: amount paid 490.005 has more decimals than USD"),
], ids=["csv", "camt", "camt-jpy", "mt940", "x12-820-line"])
def test_more_decimals_than_the_currency_has_are_refused_not_rounded(quiet, data, name, mapping, expected):
    assert expected in _refused(data, name, mapping)


def test_a_truncated_mt940_is_refused(quiet):
    cut = MT940.split(":62F:")[0].encode()  # the file ends before the closing balance and the trailer
    message = _refused(cut, "cut.sta")
    assert "has no :62F: closing balance; the file looks cut short" in message
    assert "STMT2501/DE89370400440532013000" in message


# --- the invoice CSV ----------------------------------------------------------------------------------------

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date\n")


def invoice_row(number="INV-1", customer="C-1", name="Acme", amount="100.00", currency="USD") -> str:
    return f"{number},{customer},{name},2026-01-01,2026-01-31,{amount},{currency},,,\n"


@pytest.mark.parametrize(("row", "expected"), [
    (invoice_row(name="Ac\x00me"), "line 3: customer_name contains the control character U+0000"),
    (invoice_row(customer="C\x00-1"), "line 3: customer_id contains the control character U+0000"),
    (invoice_row(name="N" * 5000), "line 3: customer name is 5000 characters; at most 200"),
    (invoice_row(currency="ZZZ"), "line 3: currency 'ZZZ' is not an ISO 4217 currency code"),
    (invoice_row(amount="1e30"), "line 3: amount '1e30' is too large"),
], ids=["nul-in-name", "nul-in-customer-id", "5000-character-name", "unknown-currency", "1e30"])
def test_invoice_csv_refuses_the_line(in_tenant, row, expected):
    data = (HEADER + invoice_row(number="INV-0") + row).encode()
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=data, file_name="invoices.csv")
    assert exc.value.errors == [expected]
    assert (Invoice.objects.count(), Customer.objects.count(), InvoiceImport.objects.count()) == (0, 0, 0)


# --- one error path: web, API, commands, queued uploads -----------------------------------------------------

SECRET = "DE89370400440532013000"  # an account number: it must not reach the log


@pytest.fixture
def crash_after_payments(monkeypatch):
    """A failure of ours after the payments were written (here: linking advice raises)."""
    def crash(*args, **kwargs):
        raise RuntimeError(f"cannot link {SECRET}")

    monkeypatch.setattr(payment_services, "_link_advices", crash)


@pytest.fixture
def clerk(tenant, member_factory, verified_client):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
    return verified_client(member_factory(tenant, Role.AR_CLERK))


def _upload(client, data, name):
    return client.post(reverse("payments:upload"), {"file": SimpleUploadedFile(name, data)})


def test_a_refused_bank_upload_ends_with_the_line_named(tenant, clerk, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = _upload(clerk, camt(Credit("B1", "1e14")), "big.xml")
    page = clerk.get(response["Location"]).content.decode()
    assert "Refused" in page and "hx-trigger" not in page
    assert "big.xml: element BkToCstmrStmt/Stmt[1]/Ntry[1] (line 1): amount 100000000000000.00 is too large" in page
    with tenant_context(tenant):
        upload = BankFileUpload.objects.get()
        assert upload.status == "failed" and not BankFile.objects.exists()


def test_an_unexpected_failure_ends_the_bank_upload_with_a_message_and_a_logged_reference(
        tenant, clerk, crash_after_payments, django_capture_on_commit_callbacks, caplog):
    with caplog.at_level(logging.ERROR, logger="o2c.services.uploads"):
        with django_capture_on_commit_callbacks(execute=True):
            response = _upload(clerk, camt(Credit("X1", "5.00")), "statement.xml")
    assert response.status_code == 302
    page = clerk.get(response["Location"]).content.decode()
    assert "error on our side" in page and "hx-trigger" not in page  # ended: the page stops polling
    with tenant_context(tenant):
        upload = BankFileUpload.objects.get()
        assert (upload.status, upload.content) == ("failed", b"")
        assert _stored() == (0, 0, 0, 0, 0)
    [record] = caplog.records
    reference = upload.message.split("(reference ")[1].split(")")[0]
    logged = record.getMessage()
    assert reference in logged and f"BankFileUpload {upload.pk}" in logged and f"tenant={tenant.pk}" in logged
    assert "RuntimeError" in logged and SECRET not in logged


def test_an_unexpected_failure_ends_the_invoice_upload(tenant, clerk, monkeypatch, settings, caplog,
                                                        django_capture_on_commit_callbacks):
    settings.O2C_INVOICE_IMPORT_INLINE_BYTES = 10  # the background import

    def crash(self, names):
        raise ZeroDivisionError("boom")

    monkeypatch.setattr(invoice_import._Writer, "finish", crash)
    with django_capture_on_commit_callbacks(execute=True):
        response = clerk.post(reverse("invoice_import"),
                              {"file": SimpleUploadedFile("i.csv", (HEADER + invoice_row()).encode())})
    page = clerk.get(response["Location"]).content.decode()
    assert "error on our side" in page and "hx-trigger" not in page
    with tenant_context(tenant):
        assert InvoiceUpload.objects.get().status == "failed" and not Invoice.objects.exists()
    assert "ZeroDivisionError" in caplog.text


def test_the_inline_invoice_import_answers_422_naming_the_line(tenant, clerk):
    response = clerk.post(reverse("invoice_import"), {"file": SimpleUploadedFile(
        "i.csv", (HEADER + invoice_row(name="Ac\x00me")).encode())})
    assert response.status_code == 422
    assert "line 2: customer_name contains the control character U+0000" in response.content.decode()
    with tenant_context(tenant):
        assert not Customer.objects.exists()


def test_the_api_answers_400_with_the_message(tenant, member_factory, crash_after_payments):
    admin = member_factory(tenant, Role.TENANT_ADMIN)
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
        _, key = api_token_create(name="ERP", role=Role.AR_CLERK, created_by=admin)
    api = Client(HTTP_AUTHORIZATION=f"Bearer {key}")
    refused = api.post("/api/v1/bank-files/", {"file": SimpleUploadedFile("big.xml", camt(Credit("A", "1e14")))})
    assert refused.status_code == 400 and "amount 100000000000000.00 is too large" in refused.json()["detail"]
    failed = api.post("/api/v1/bank-files/", {"file": SimpleUploadedFile("ok.xml", camt(Credit("B", "5")))})
    assert failed.status_code == 400 and "error on our side" in failed.json()["detail"]
    with tenant_context(tenant):
        assert _stored() == (0, 0, 0, 0, 0)


def test_the_commands_print_a_clean_error(tenant, tmp_path, crash_after_payments):
    with tenant_context(tenant):
        CashAppSettings.objects.create(match_after_import=False)
    statement = tmp_path / "statement.xml"
    statement.write_bytes(camt(Credit("C1", "5.00")))
    with pytest.raises(CommandError, match="error on our side"):
        call_command("import_bank_file", str(statement), tenant=tenant.slug)
    big = tmp_path / "big.xml"
    big.write_bytes(camt(Credit("C2", "1e14")))
    with pytest.raises(CommandError, match="big.xml: element .*Ntry\\[1\\].* is too large"):
        call_command("import_bank_file", str(big), tenant=tenant.slug)
    invoices = tmp_path / "invoices.csv"
    invoices.write_bytes((HEADER + invoice_row(name="Ac\x00me")).encode())
    with pytest.raises(CommandError, match="line 2: customer_name contains the control character U\\+0000"):
        call_command("import_invoices", str(invoices), tenant=tenant.slug)


def test_a_file_name_with_control_characters_is_kept_as_a_label(quiet):
    """Django's upload parser drops a NUL from the name; a command or another caller passes what it has."""
    bank_file = bank_file_import(data=camt(Credit("F1", "5.00")), file_name="state\x00ment.xml")
    assert bank_file.file_name == "state?ment.xml"
    with pytest.raises(BankFileRefused, match=r"^big\?\.xml: "):
        bank_file_import(data=camt(Credit("F2", "1e14")), file_name="big\x00.xml")
