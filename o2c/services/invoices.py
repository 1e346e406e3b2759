"""Invoice moves that are not cash: voiding. (Cash, credit memos and write-offs go through `o2c.ledger`.)"""

from decimal import Decimal

from django.db import transaction

from ..errors import ConflictError
from ..models import Invoice
from ..models.ledger import InvoiceStatus
from .audit import audit_event


def invoice_void(*, invoice: Invoice, actor=None) -> Invoice:
    """Void an invoice nothing has touched yet (open, nothing settled); anything else is a 409, since money
    already moved against it: reverse or credit that first."""
    with transaction.atomic():
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status != InvoiceStatus.OPEN or invoice.open_balance != invoice.amount:
            raise ConflictError(f"invoice {invoice.number} is {invoice.get_status_display().lower()}; only an "
                                "untouched open invoice can be voided")
        invoice.status, invoice.open_balance = InvoiceStatus.VOID, Decimal(0)
        invoice.save(update_fields=["status", "open_balance", "updated_at"])
        audit_event("invoice.voided", invoice, {"status": [InvoiceStatus.OPEN.value, invoice.status],
                                                "open_balance": [invoice.amount, invoice.open_balance]}, actor=actor)
    return invoice
