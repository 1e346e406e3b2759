"""Invoice import in chunks: parsed in a thread while the chunk before is stored. With chunks of two
rows, every rule of tests/test_import.py must hold across chunk boundaries too."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import IntegrityError, connections

from o2c.models import AuditEvent, Customer, Invoice, InvoiceImport
from o2c.services import invoice_import
from o2c.services.invoice_import import InvoiceFileError, invoice_import_csv

pytestmark = pytest.mark.django_db

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date")


def row(number, customer="C-1", name="Acme Stores", amount="100.00", currency="USD", po="", discount="",
        discount_due="", issue="2026-01-05", due="2026-02-04"):
    return f"{number},{customer},{name},{issue},{due},{amount},{currency},{po},{discount},{discount_due}"


def csv(*rows) -> bytes:
    return ("\n".join([HEADER, *rows]) + "\n").encode()


def counts():
    return (Customer.objects.count(), Invoice.objects.count(), InvoiceImport.objects.count(),
            AuditEvent.objects.count())


@pytest.fixture(autouse=True)
def two_row_chunks(monkeypatch):
    monkeypatch.setattr(invoice_import, "CHUNK_ROWS", 2)


def test_many_chunks_store_every_invoice_once_with_its_batch(in_tenant):
    rows = [row(f"INV-{i}", customer=f"C-{i % 3}", name=f"Customer {i % 3}", amount=f"{i}.25") for i in range(1, 8)]
    batch = invoice_import_csv(data=csv(*rows), file_name="seven.csv")
    assert (batch.rows, batch.created_invoices, batch.created_customers) == (7, 7, 3)
    invoices = {i.number: i for i in Invoice.objects.select_related("customer")}
    assert sorted(invoices) == sorted(f"INV-{i}" for i in range(1, 8))
    assert invoices["INV-5"].amount == invoices["INV-5"].open_balance == Decimal("5.25")
    assert invoices["INV-5"].customer.external_id == "C-2"
    # Every chunk's invoices carry the batch; the import's one event stands for all of them.
    assert {i.import_batch_id for i in invoices.values()} == {batch.pk}
    assert list(AuditEvent.objects.filter(object_type__in=["invoice", "invoiceimport"])
                .values_list("action", "object_id")) == [("invoice_import.completed", batch.pk)]


def test_a_bad_line_in_a_later_chunk_stores_nothing_of_the_earlier_ones(in_tenant):
    invoice_import_csv(data=csv(row("INV-0")), file_name="before.csv")
    before = counts()
    rows = [row(f"INV-{i}", customer=f"C-{i}") for i in range(1, 6)]
    rows.append(row("INV-6", due="2026-02-30"))
    rows.append(row("INV-7", amount="12.345"))
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=csv(*rows), file_name="late-error.csv")
    assert exc.value.errors == ["line 7: due_date '2026-02-30' is not a date (YYYY-MM-DD)",
                                "line 8: amount '12.345' has more decimals than USD allows (2)"]
    assert counts() == before


def test_a_number_repeated_in_another_chunk_is_refused(in_tenant):
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=csv(row("INV-1"), row("INV-2"), row("INV-3"), row("INV-1")), file_name="dup.csv")
    assert exc.value.errors == ["line 5: invoice INV-1 appears again (first on line 2)"]
    assert counts() == (0, 0, 0, 0)


def test_a_customer_renamed_further_down_the_file_is_created_under_the_last_name(in_tenant):
    batch = invoice_import_csv(data=csv(row("INV-1", name="Acme"), row("INV-2", currency="EUR", name="Acme"),
                                        row("INV-3", name="Acme Stores Inc")), file_name="rename.csv")
    assert batch.created_customers == 1
    customer = Customer.objects.get()
    assert (customer.name, customer.currency) == ("Acme Stores Inc", "USD")  # last name, first currency
    events = AuditEvent.objects.filter(object_type="customer")
    assert [(e.action, e.changes["name"]) for e in events] == [("customer.created", [None, "Acme Stores Inc"])]


def test_an_existing_customer_renamed_in_a_later_chunk_is_audited_once(in_tenant):
    invoice_import_csv(data=csv(row("INV-1", name="Acme")), file_name="a.csv")
    invoice_import_csv(data=csv(row("INV-2", name="Acme"), row("INV-3", name="Acme"), row("INV-4", name="Acme Inc")),
                       file_name="b.csv")
    customer = Customer.objects.get()
    assert customer.name == "Acme Inc"
    assert list(AuditEvent.objects.filter(action="customer.updated").values_list("changes", flat=True)) == [
        {"name": ["Acme", "Acme Inc"]}]


def test_new_and_stored_invoices_mixed_across_chunks(in_tenant):
    invoice_import_csv(data=csv(row("INV-1"), row("INV-5", amount="50.00"), row("INV-9")), file_name="a.csv")
    stored = {i.number: (i.pk, i.updated_at) for i in Invoice.objects.all()}
    events_before = AuditEvent.objects.count()

    # INV-3 and INV-7 fall between stored numbers, INV-10 after them; INV-5 changes its amount.
    batch = invoice_import_csv(data=csv(row("INV-3"), row("INV-1"), row("INV-5", amount="55.00"), row("INV-7"),
                                        row("INV-9"), row("INV-10")), file_name="b.csv")

    assert (batch.created_invoices, batch.updated_invoices, batch.unchanged_invoices) == (3, 1, 2)
    assert Invoice.objects.count() == 6
    assert Invoice.objects.get(number="INV-5").open_balance == Decimal("55.00")
    for number in ("INV-1", "INV-9"):
        assert (Invoice.objects.get(number=number).pk, Invoice.objects.get(number=number).updated_at) == stored[number]
    new_events = AuditEvent.objects.order_by("id")[events_before:]
    # The three created carry the batch (no event each); the changed one has its before and after.
    assert sorted(e.action for e in new_events) == ["invoice.updated", "invoice_import.completed"]
    assert sorted(Invoice.objects.filter(import_batch=batch).values_list("number", flat=True)) == [
        "INV-10", "INV-3", "INV-7"]


def test_reimport_across_chunks_changes_nothing(in_tenant):
    data = csv(*[row(f"INV-{i}", discount="2.00", discount_due="2026-01-15", po=f"PO-{i}") for i in range(5)])
    invoice_import_csv(data=data, file_name="a.csv")
    before = list(Invoice.objects.order_by("pk").values())
    events = AuditEvent.objects.count()
    batch = invoice_import_csv(data=data, file_name="a.csv")
    assert (batch.created_invoices, batch.updated_invoices, batch.unchanged_invoices) == (0, 0, 5)
    assert list(Invoice.objects.order_by("pk").values()) == before
    assert AuditEvent.objects.count() == events + 1  # the upload itself


def test_money_stays_exact_whatever_the_currency(in_tenant):
    invoice_import_csv(data=csv(row("INV-1", amount="99999999999999.99"), row("INV-2", amount='"1,234.50"'),
                                row("INV-3", amount="1000", currency="JPY"),
                                row("INV-4", amount="1.234", currency="KWD"), row("INV-5", amount="0.1")),
                       file_name="money.csv")
    amounts = dict(Invoice.objects.values_list("number", "amount"))
    assert amounts == {"INV-1": Decimal("99999999999999.99"), "INV-2": Decimal("1234.50"), "INV-3": Decimal("1000"),
                       "INV-4": Decimal("1.234"), "INV-5": Decimal("0.1")}


def test_text_needing_escapes_in_copy_arrives_intact(in_tenant):
    invoice_import_csv(data=csv(row('"INV\\1\t"', po='"PO\\x\r"')), file_name="escapes.csv")
    invoice = Invoice.objects.get()
    assert (invoice.number, invoice.po_number) == ("INV\\1", "PO\\x")  # stripped like every value
    invoice_import_csv(data=csv(row('"INV\\1\t"', po='"PO\\x\r"')), file_name="escapes.csv")
    assert Invoice.objects.count() == 1


@pytest.mark.parametrize(("line", "error"), [
    (row("INV-\x001"), "line 2: invoice_number contains the control character U+0000"),
    (row("INV-1", discount="NaN", discount_due="2026-01-15"),
     "line 2: discount_percent 'NaN' must be between 0 and 100, 2 decimals"),
    (row("INV-1", discount="2.00"), "line 2: discount_percent is set but discount_due_date is empty"),
    (row("INV-1", discount="2", discount_due="2026-01-01"),
     "line 2: discount_due_date 2026-01-01 is before issue_date 2026-01-05"),
])
def test_more_bad_lines_name_line_and_column(in_tenant, line, error):
    with pytest.raises(InvoiceFileError) as exc:
        invoice_import_csv(data=csv(line), file_name="bad.csv")
    assert exc.value.errors == [error]
    assert counts() == (0, 0, 0, 0)


def test_other_tenants_invoice_numbers_do_not_count_as_stored(tenant, other_tenant):
    from o2c.tenancy import tenant_context

    with tenant_context(other_tenant):
        invoice_import_csv(data=csv(row("INV-1"), row("INV-2"), row("INV-3")), file_name="b.csv")
    with tenant_context(tenant):
        batch = invoice_import_csv(data=csv(row("INV-2"), row("INV-4")), file_name="a.csv")
        assert (batch.created_invoices, batch.unchanged_invoices) == (2, 0)
        assert sorted(Invoice.objects.values_list("number", flat=True)) == ["INV-2", "INV-4"]


@pytest.mark.django_db(databases=["default", "owner"])
def test_an_invoice_cannot_name_a_tenant_its_customer_does_not_belong_to():
    """Migration 0003 dropped the invoice's own key to o2c_tenant; the composite key to the customer still
    refuses an invoice of a missing or other tenant, even for the owner (who bypasses RLS)."""
    owner = connections["owner"]
    with owner.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'o2c_invoice'::regclass "
                       "AND confrelid = 'o2c_tenant'::regclass")
        assert cursor.fetchone() == (0,)
    # On a connection of its own that commits: on Citus the key is checked on the worker holding the shard,
    # and SET CONSTRAINTS does not travel there, so only the commit shows the refusal. Nothing is left behind:
    # the refused commit rolls back the tenant and customer too.
    apart = connections.create_connection("owner")
    try:
        apart.set_autocommit(False)
        with pytest.raises(IntegrityError, match="tfk"):
            with apart.cursor() as cursor:
                cursor.execute("INSERT INTO o2c_tenant (slug, name, base_currency, created_at) "
                               "VALUES ('fk-a', 'A', 'USD', now()) RETURNING id")
                (tenant_id,) = cursor.fetchone()
                cursor.execute("INSERT INTO o2c_customer (tenant_id, external_id, name, payment_terms, currency, "
                               "is_active, created_at, updated_at) VALUES (%s, 'C', 'A cust', 'net 30', 'USD', "
                               "true, now(), now()) RETURNING id", [tenant_id])
                (customer_id,) = cursor.fetchone()
                cursor.execute(
                    "INSERT INTO o2c_invoice (tenant_id, number, customer_id, issue_date, due_date, amount, "
                    "currency, open_balance, po_number, discount_percent, status, created_at, updated_at) VALUES "
                    "(%s, 'I1', %s, %s, %s, 10, 'USD', 10, '', 0, 'open', now(), now())",
                    [tenant_id + 1_000_000, customer_id, date(2026, 1, 1), date(2026, 1, 31)],
                )
            apart.commit()
        apart.rollback()
        with apart.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM o2c_tenant WHERE slug = 'fk-a'")
            assert cursor.fetchone() == (0,)
    finally:
        apart.close()


def test_the_import_batch_of_an_invoice_is_provenance_without_key_or_index():
    """A million-row import sets it on a million rows: an enforced key would be a million checks at commit and
    an index a million entries, and nothing reads invoices by their batch (their history reads the batch)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT attnum FROM pg_attribute WHERE attrelid = 'o2c_invoice'::regclass "
                       "AND attname = 'import_batch_id'")
        (attnum,) = cursor.fetchone()
        cursor.execute("SELECT count(*) FROM pg_constraint WHERE conrelid = 'o2c_invoice'::regclass "
                       "AND %s = ANY(conkey)", [attnum])
        assert cursor.fetchone() == (0,)
        cursor.execute("SELECT count(*) FROM pg_index WHERE indrelid = 'o2c_invoice'::regclass "
                       "AND %s = ANY(indkey::int2[])", [attnum])
        assert cursor.fetchone() == (0,)


def test_known_numbers_are_found_whether_the_span_is_dense_or_crowded(in_tenant):
    """A chunk's stored numbers are read along the index when its span holds few others (the same file
    again) and looked up one by one when the span is crowded; either way each is found, none twice."""
    invoice_import_csv(data=csv(*[row(f"A-{i:03d}") for i in range(100)]), file_name="all.csv")
    # Chunks of two: A-000..A-001 is dense; span 97 stored numbers, so they are probed.
    again = invoice_import_csv(data=csv(row("A-000"), row("A-001"), row("A-002"), row("A-098", amount="150.00")),
                               file_name="some.csv")
    assert (again.created_invoices, again.updated_invoices, again.unchanged_invoices) == (0, 1, 3)
    assert Invoice.objects.count() == 100
    assert Invoice.objects.get(number="A-098").amount == Decimal("150.00")
