"""bench/invoice_index_cost.py's variants follow the migrated schema of o2c_invoice."""

import pytest
from django.db import connection

from bench.invoice_index_cost import NARROWER, on_scratch_table, variant_indexes

SCHEMA_INDEXES = {"o2c_invoice_pkey", "invoice_number_unique", "invoice_due_idx", "invoice_customer_due_idx",
                  "invoice_po_idx"}


@pytest.fixture
def conn(db):
    connection.ensure_connection()
    return connection.connection


def test_schema_variant_is_the_tables_indexes_moved_to_the_scratch_table(conn):
    schema = variant_indexes(conn, "schema")
    assert {d.split(" ON ")[0].split()[-1] for d in schema} == SCHEMA_INDEXES
    moved = [on_scratch_table(d) for d in schema]
    assert all(" ON bench_invoice_copy USING btree " in d and "o2c_invoice" not in d for d in moved)
    assert any(d.startswith("CREATE UNIQUE INDEX ON bench_invoice_copy") and "varchar_pattern_ops" in d for d in moved)
    assert any("WHERE" in d and "po_number" in d for d in moved)  # the PO index stays partial


def test_without_drops_only_the_named_index(conn):
    schema = variant_indexes(conn, "schema")
    without = variant_indexes(conn, "without-invoice_due_idx")
    assert len(without) == len(schema) - 1
    assert not any("invoice_due_idx" in d for d in without)
    assert variant_indexes(conn, "heap-only") == []


@pytest.mark.parametrize("name", sorted(NARROWER))
def test_narrower_replaces_the_index_it_names(conn, name):
    replaced, definition = NARROWER[name]
    indexes = variant_indexes(conn, name)
    assert definition in indexes
    assert not any(f" {replaced} " in d for d in indexes)
    assert len(indexes) == len(variant_indexes(conn, "schema"))


def test_unknown_variant_and_foreign_index_are_refused(conn):
    with pytest.raises(SystemExit, match="unknown variant"):
        variant_indexes(conn, "without-no_such_idx")
    with pytest.raises(ValueError, match="not an index of o2c_invoice"):
        on_scratch_table("CREATE INDEX x ON public.o2c_customer USING btree (tenant_id)")
