"""Cash application's answers to the apps and the kernel it builds on: a newly imported bank file starts a run
of its payments; what could change a waiting payment's answer (invoices of its payer, an alias or bank account
that could name a payer, an invoice owed again) asks for a retry of the payments it concerns (`runs`)."""

from django.db.models.signals import post_save
from django.dispatch import receiver

from o2c.ledger import events
from o2c.models import CustomerAlias, CustomerBankAccount
from o2c.signals import invoices_imported
from payments.signals import bank_file_imported

from .scopes import RunScope
from .services import matching_after_import, matching_retry_after_commit, matching_retry_for_customers


@receiver(bank_file_imported, dispatch_uid="cashapp-match-after-import")
def _match_after_import(sender, bank_file, match=True, **kwargs) -> None:
    if match:
        matching_after_import(bank_file)


@receiver(invoices_imported, dispatch_uid="cashapp-retry-after-invoice-import")
def _retry_after_invoice_import(sender, batch, customer_ids, **kwargs) -> None:
    matching_retry_for_customers(customer_ids, trigger="invoices")


@events.handles(events.InvoiceIssued, events.InvoiceReopened)
def _retry_after_invoices_owed(batch: list) -> None:
    """A re-bill, or an invoice owed again after a reversal: its customer's waiting payments may pay it."""
    matching_retry_for_customers({e.customer_id for e in batch}, trigger="invoices")


# Aliases and accounts are added by a clerk's confirmation (`clerk._learn_payer`) and in the admin: a signal on
# the row hears both. Bulk loads (the demo) send none and need no retry: nothing waits yet.
@receiver(post_save, sender=CustomerAlias, dispatch_uid="cashapp-retry-after-alias")
@receiver(post_save, sender=CustomerBankAccount, dispatch_uid="cashapp-retry-after-bank-account")
def _retry_after_payer_learned(sender, instance, created, raw=False, **kwargs) -> None:
    """A new name or account may identify the payer of payments that have none yet."""
    if created and not raw:
        matching_retry_after_commit(scope=RunScope.of(payerless=True), trigger="payer_learned")
