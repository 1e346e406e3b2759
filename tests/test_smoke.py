from decimal import Decimal

import pytest

from o2c.models import Customer, Invoice
from o2c.services.invoice_import import invoice_import_csv
from o2c.tenancy import tenant_context

CSV = b"""\
invoice_number,customer_id,customer_name,issue_date,due_date,amount,currency,po_number,discount_percent,\
discount_due_date
INV-1,C1,Acme,2026-01-01,2026-01-31,100.00,USD,PO1,,
INV-2,C1,Acme,2026-01-02,2026-02-01,250.50,USD,,2,2026-01-12
"""


@pytest.mark.django_db
def test_import_is_scoped(tenant, other_tenant, rls_probe):  # unscoped reads on purpose: every shard on Citus
    with tenant_context(tenant):
        invoice_import_csv(data=CSV, file_name="a.csv")
        assert Invoice.objects.count() == 2
        assert Invoice.objects.get(number="INV-2").open_balance == Decimal("250.50")
    with tenant_context(other_tenant):
        assert Invoice.objects.count() == 0
        assert Invoice.unscoped.count() == 0  # RLS, not the manager
        assert Customer.unscoped.count() == 0
