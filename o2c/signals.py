"""What the kernel tells the apps built on it, besides the ledger's events (`o2c.ledger.events`).

`invoices_imported` is sent inside an invoice import's transaction once its invoices are stored (not for a
file that created or changed none); receivers enqueue their work with `transaction.on_commit`.
"""

from django.dispatch import Signal

# sender=InvoiceImport, batch=the InvoiceImport, customer_ids=frozenset of the customers whose invoices the file
# created or changed
invoices_imported = Signal()
