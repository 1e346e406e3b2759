"""Invoice CSV import: all or nothing, idempotent, every bad line reported with its number."""

from datetime import date
from decimal import Decimal

import pytest

from o2c.errors import TenantNotSet
from o2c.models import AuditEvent, Customer, Invoice, InvoiceImport
from o2c.services.invoice_import import InvoiceFileError, invoice_import_csv
from o2c.tenancy import tenant_context

pytestmark = pytest.mark.django_db

HEADER = "invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number," \
         "discount_percent,discount_due_date"
ROWS = [
    "INV-1,C-1,Acme Stores,2026-01-05,2026-02-04,1200.50,USD,PO-9,2,2026-01-15",
    "INV-2,C-1,Acme Stores,2026-01-10,2026-02-09,80.00,USD,,,",
    "INV-3,C-2,Bolt Bros,2026-01-12,2026-03-13,999999.99,EUR,PO-77,,",
]


@pytest.fixture
def csv_file(tmp_path):
    """write(lines, name=...) -> bytes of a CSV file written to disk, as an upload would arrive."""

    def write(lines, name="invoices.csv", encoding="utf-8"):
        path = tmp_path / name
        path.write_bytes(("\n".join(lines) + "\n").encode(encoding) if lines else b"")
        return path.read_bytes()

    return write


def counts():
    return (Customer.objects.count(), Invoice.objects.count(), InvoiceImport.objects.count(),
            AuditEvent.objects.count())


def test_happy_path(in_tenant, csv_file, member_factory, tenant):
    user = member_factory(tenant)
    batch = invoice_import_csv(data=csv_file([HEADER, *ROWS]), file_name="jan.csv", actor=user)
    assert (batch.rows, batch.created_invoices, batch.updated_invoices, batch.unchanged_invoices,
            batch.created_customers) == (3, 3, 0, 0, 2)
    inv = Invoice.objects.get(number="INV-1")
    assert inv.amount == Decimal("1200.50") and inv.open_balance == Decimal("1200.50")
    assert inv.customer.external_id == "C-1" and inv.customer.name == "Acme Stores"
    assert (inv.issue_date, inv.due_date, inv.po_number) == (date(2026, 1, 5), date(2026, 2, 4), "PO-9")
    assert inv.discount_percent == Decimal("2") and inv.discount_due_date == date(2026, 1, 15)
    assert Customer.objects.get(external_id="C-2").currency == "EUR"
    # One event for the import, which is every created invoice's provenance: each carries its batch and has
    # no event of its own (a million-row file wrote a million events). New customers keep theirs.
    event = AuditEvent.objects.get(action="invoice_import.completed")
    assert event.actor == user and event.object_type == "invoiceimport" and event.object_id == batch.pk
    assert event.changes == {"file_name": [None, "jan.csv"], "file_sha256": [None, batch.file_sha256],
                             "rows": [None, 3], "created_invoices": [None, 3], "updated_invoices": [None, 0],
                             "unchanged_invoices": [None, 0], "created_customers": [None, 2]}
    assert set(Invoice.objects.values_list("import_batch_id", flat=True)) == {batch.pk}
    assert batch.imported_by == user
    assert not AuditEvent.objects.filter(object_type="invoice").exists()
    assert AuditEvent.objects.filter(action="customer.created").count() == 2


def test_extra_columns_and_header_case_are_tolerated(in_tenant, csv_file):
    header = HEADER.upper().replace(",", " , ") + ",internal_note"
    batch = invoice_import_csv(data=csv_file([header, ROWS[0] + ",ignore me"]), file_name="x.csv")
    assert batch.created_invoices == 1
    assert Invoice.objects.get().number == "INV-1"


def test_utf8_bom_and_blank_lines(in_tenant, csv_file):
    data = "\ufeff".encode() + csv_file([HEADER, ROWS[0], "", ROWS[1]])
    assert invoice_import_csv(data=data, file_name="bom.csv").created_invoices == 2


def test_reimporting_the_same_file_changes_nothing(in_tenant, csv_file):
    data = csv_file([HEADER, *ROWS])
    invoice_import_csv(data=data, file_name="jan.csv")
    before = list(Invoice.objects.order_by("pk").values())
    customers_before = list(Customer.objects.order_by("pk").values())
    events_before = set(AuditEvent.objects.values_list("pk", flat=True))

    batch = invoice_import_csv(data=data, file_name="jan.csv")

    assert (batch.created_invoices, batch.updated_invoices, batch.unchanged_invoices,
            batch.created_customers) == (0, 0, 3, 0)
    assert list(Invoice.objects.order_by("pk").values()) == before  # updated_at included
    assert list(Customer.objects.order_by("pk").values()) == customers_before
    # The upload itself is recorded (who re-sent what, when); no ledger change is.
    new_events = AuditEvent.objects.exclude(pk__in=events_before)
    assert list(new_events.values_list("action", flat=True)) == ["invoice_import.completed"]


def test_changed_amount_updates_the_invoice_and_is_audited(in_tenant, csv_file):
    invoice_import_csv(data=csv_file([HEADER, *ROWS]), file_name="jan.csv")
    changed = ROWS[1].replace("80.00", "95.25")
    batch = invoice_import_csv(data=csv_file([HEADER, ROWS[0], changed, ROWS[2]]), file_name="jan-fix.csv")
    assert (batch.updated_invoices, batch.unchanged_invoices) == (1, 2)
    inv = Invoice.objects.get(number="INV-2")
    assert inv.amount == inv.open_balance == Decimal("95.25")
    first = InvoiceImport.objects.get(file_name="jan.csv")
    assert inv.import_batch_id == first.pk  # the import that created it stays its provenance
    event = AuditEvent.objects.get(action="invoice.updated", object_id=inv.pk)
    assert [Decimal(v) for v in event.changes["amount"]] == [Decimal("80.00"), Decimal("95.25")]
    assert [Decimal(v) for v in event.changes["open_balance"]] == [Decimal("80.00"), Decimal("95.25")]


def test_amount_of_a_partly_paid_invoice_cannot_change_by_import(in_tenant, csv_file):
    invoice_import_csv(data=csv_file([HEADER, *ROWS]), file_name="jan.csv")
    inv = Invoice.objects.get(number="INV-2")
    inv.open_balance, inv.status = Decimal("30.00"), "partially_paid"
    inv.save()
    before = counts()
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=csv_file([HEADER, ROWS[1].replace("80.00", "95.25")]), file_name="late.csv")
    assert exc.value.errors == ["line 2: invoice INV-2 already has payments or credits applied; its amount "
                                "cannot change by import"]
    assert counts() == before
    assert Invoice.objects.get(number="INV-2").amount == Decimal("80.00")


def test_customer_names_follow_the_erp(in_tenant, csv_file):
    invoice_import_csv(data=csv_file([HEADER, ROWS[0]]), file_name="a.csv")
    batch = invoice_import_csv(data=csv_file([HEADER, ROWS[1].replace("Acme Stores", "Acme Stores Inc")]),
                               file_name="b.csv")
    assert batch.created_customers == 0 and batch.created_invoices == 1
    customer = Customer.objects.get(external_id="C-1")
    assert customer.name == "Acme Stores Inc"
    event = AuditEvent.objects.get(action="customer.updated", object_id=customer.pk)
    assert event.changes == {"name": ["Acme Stores", "Acme Stores Inc"]}


def test_same_invoice_numbers_in_two_tenants_stay_apart(tenant, other_tenant, csv_file):
    data = csv_file([HEADER, *ROWS])
    with tenant_context(tenant):
        invoice_import_csv(data=data, file_name="a.csv")
    with tenant_context(other_tenant):
        batch = invoice_import_csv(data=data, file_name="a.csv")
        assert batch.created_invoices == 3 and batch.created_customers == 2  # nothing of A's was matched
        assert Invoice.objects.count() == 3
    with tenant_context(tenant):
        assert Invoice.objects.count() == 3


def test_import_needs_a_tenant_scope(tenant, csv_file):
    with pytest.raises(TenantNotSet):
        invoice_import_csv(data=csv_file([HEADER, *ROWS]), file_name="a.csv")


BAD_FILES = {
    "missing-column": ([HEADER.replace(",currency", ""), ROWS[0].replace(",USD", "")],
                       ["line 1: header lacks column currency"]),
    "bad-date": ([HEADER, ROWS[0], ROWS[1].replace("2026-01-10", "10/01/2026")],
                 ["line 3: issue_date '10/01/2026' is not a date (YYYY-MM-DD)"]),
    "negative-amount": ([HEADER, ROWS[0].replace("1200.50", "-1200.50")],
                        ["line 2: amount -1200.50 is negative; credits are imported as credit memos"]),
    "bad-currency": ([HEADER, ROWS[0].replace("USD", "DOLLARS")],
                     ["line 2: currency 'DOLLARS' is not an ISO 4217 currency code"]),
    "too-many-decimals": ([HEADER, ROWS[0].replace("1200.50", "1200.505")],
                          ["line 2: amount '1200.505' has more decimals than USD allows (2)"]),
    "not-a-number": ([HEADER, ROWS[0].replace("1200.50", "12OO.50")], ["line 2: amount '12OO.50' is not a number"]),
    "duplicate-number": ([HEADER, *ROWS, ROWS[0]], ["line 5: invoice INV-1 appears again (first on line 2)"]),
    "due-before-issue": ([HEADER, ROWS[2].replace("2026-03-13", "2026-01-01")],
                         ["line 2: due_date 2026-01-01 is before issue_date 2026-01-12"]),
    "empty-number": ([HEADER, ROWS[0].replace("INV-1", "")], ["line 2: invoice_number is empty"]),
    "extra-fields": ([HEADER, ROWS[0] + ",surplus"], ["line 2: has more fields than the header"]),
    "empty-file": ([], ["line 1: the file is empty; expected a header row"]),
    "header-only": ([HEADER], ["the file has a header but no invoice rows"]),
    "several-bad-lines": ([HEADER, ROWS[0], ROWS[1].replace("80.00", "x"), ROWS[2].replace("EUR", "E")],
                          ["line 3: amount 'x' is not a number",
                           "line 4: currency 'E' is not an ISO 4217 currency code"]),
}


@pytest.mark.parametrize("case", BAD_FILES, ids=list(BAD_FILES))
def test_bad_file_is_refused_whole_with_line_numbers(case, in_tenant, csv_file):
    lines, expected = BAD_FILES[case]
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=csv_file(lines), file_name=f"{case}.csv")
    assert exc.value.errors == expected
    assert "nothing was imported" in exc.value.message
    assert counts() == (0, 0, 0, 0)  # not a customer, not an import record, not an audit event


def test_not_utf8_is_refused(in_tenant, csv_file):
    data = csv_file([HEADER, ROWS[0].replace("Acme Stores", "Ächme Störes")], encoding="latin-1")
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=data, file_name="latin1.csv")
    assert exc.value.errors[0].endswith("the file is not UTF-8 text")
    assert counts() == (0, 0, 0, 0)


def test_malformed_csv_is_refused(in_tenant, csv_file):
    data = csv_file([HEADER, ROWS[0], 'INV-9,C-1,"Acme \x00 Stores,2026-01-05,2026-02-04,1,USD,,,'])
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=data, file_name="broken.csv")
    assert exc.value.errors and all(e.startswith("line ") for e in exc.value.errors)
    assert counts() == (0, 0, 0, 0)


def test_a_bad_line_after_good_ones_stores_nothing_even_into_an_existing_ledger(in_tenant, csv_file):
    invoice_import_csv(data=csv_file([HEADER, ROWS[0]]), file_name="first.csv")
    before = counts()
    snapshot = list(Invoice.objects.values())
    with pytest.raises(InvoiceFileError):
        invoice_import_csv(data=csv_file([HEADER, ROWS[0].replace("1200.50", "1300.00"), ROWS[1],
                                          ROWS[2].replace("2026-01-12", "2026-13-12")]), file_name="second.csv")
    assert counts() == before
    assert list(Invoice.objects.values()) == snapshot
