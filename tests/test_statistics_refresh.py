"""An import of many rows analyses the tables it filled when it commits, ahead of the matching run it starts
(o2c.statistics): without statistics the run's per-chunk updates by id walked whole tables."""

import pytest
from django.db import DatabaseError, connection, transaction

from o2c import statistics
from o2c.services.invoice_import import invoice_import_csv
from payments.services import bank_file_import
from tests.cashapp_support import Credit, camt053

HEADER = ("invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,"
          "discount_percent,discount_due_date\n")


def _manual_analyses(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.fixture
def refresh_from_three(monkeypatch):
    monkeypatch.setattr(statistics, "REFRESH_FROM_ROWS", 3)


def _bank_file(n: int) -> bytes:
    return camt053([Credit(f"STATS-{n}-{k}", "10.00", payer="Acme") for k in range(n)])


@pytest.mark.usefixtures("refresh_from_three")
def test_a_bank_file_of_many_payments_analyses_the_payments_on_commit(in_tenant, django_capture_on_commit_callbacks):
    before = _manual_analyses("payments_payment")
    with django_capture_on_commit_callbacks(execute=True):
        bank_file_import(data=_bank_file(3), file_name="many.xml", match=False)
    assert _manual_analyses("payments_payment") == before + 1


@pytest.mark.usefixtures("refresh_from_three")
def test_a_small_bank_file_leaves_the_statistics_to_autovacuum(in_tenant, django_capture_on_commit_callbacks):
    before = _manual_analyses("payments_payment")
    with django_capture_on_commit_callbacks(execute=True):
        bank_file_import(data=_bank_file(2), file_name="few.xml", match=False)
    assert _manual_analyses("payments_payment") == before


@pytest.mark.usefixtures("refresh_from_three")
def test_an_invoice_file_of_many_rows_analyses_the_invoices_on_commit(in_tenant, django_capture_on_commit_callbacks):
    rows = "".join(f"INV-{k},C1,Acme,2026-01-01,2026-02-01,100.00,USD,,,\n" for k in range(3))
    before = _manual_analyses("o2c_invoice")
    with django_capture_on_commit_callbacks(execute=True):
        invoice_import_csv(data=(HEADER + rows).encode(), file_name="invoices.csv")
    assert _manual_analyses("o2c_invoice") == before + 1


def test_the_application_role_cannot_analyse_another_table_through_the_function(db):
    with pytest.raises(DatabaseError, match="not a table whose statistics it refreshes"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {statistics.FUNCTION}(ARRAY['o2c_tenant'])")


def test_only_the_tables_it_may_refresh_are_asked_for():
    with pytest.raises(ValueError, match="o2c_tenant"):
        statistics.refresh_statistics_after_commit(("o2c_tenant",))


def test_the_columns_left_to_autovacuum_are_columns_of_their_tables():
    # A misspelt or renamed column would be analysed again, silently: each name must be a real column.
    from django.apps import apps

    columns = {m._meta.db_table: {f.column for f in m._meta.concrete_fields} for m in apps.get_models()}
    for table, left_out in statistics.LEFT_OUT.items():
        assert table in statistics.REFRESHABLE
        assert set(left_out) <= columns[table], table

