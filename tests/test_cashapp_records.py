"""The matcher's bulk loader: the reference keys Postgres computes agree with reference_key()."""

from decimal import Decimal

from cashapp.matching.normalize import reference_key
from cashapp.records import open_invoice_records
from o2c.tenancy import tenant_context
from tests.factories import CustomerFactory, InvoiceFactory

NUMBERS = ["INV-0004512", "inv 4512", "4512", "0000", "INV-0", "INV/77", "AB12", "INV--12", "INV-OO45", "2026-0042",
           "INV-12A", "INV-٣٤٥", "X 0009", "INV_55", "FACT2026001"]


def test_keys_from_postgres_match_reference_key(tenant):
    with tenant_context(tenant):
        customer = CustomerFactory()
        for n, number in enumerate(NUMBERS):
            InvoiceFactory(customer=customer, number=number, po_number=number if n % 2 else "",
                           amount=Decimal("10.00"))
        records = open_invoice_records()
    assert len(records) == len(NUMBERS)
    for inv in records:
        assert (inv.number_key if inv.number_key is not None else reference_key(inv.number)) == reference_key(
            inv.number), inv.number
        if inv.po_number:
            assert (inv.po_key if inv.po_key is not None else reference_key(inv.po_number)) == reference_key(
                inv.po_number), inv.po_number
    computed = {inv.number for inv in records if inv.number_key is not None}
    assert {"INV-0004512", "inv 4512", "4512", "0000", "INV/77", "AB12"} <= computed
