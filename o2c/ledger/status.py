"""Status rules of invoices and payments, written once.

An invoice's or a payment's status is not a workflow: it follows from its balance (nothing left, all of it
left, part of it). So there is no state machine for them, only these rules, used by Python (`invoice_status`,
`payment_status`) and generated as SQL CASE expressions for the set-based posting (`*_status_sql`), so the
two cannot drift apart. The database's check constraints hold the same rules (paid means zero open, applied
means zero unapplied). Voiding is the one move that is not a balance rule: `o2c.services.invoices.invoice_void`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django.db import models

from ..models.ledger import InvoiceStatus


class PaymentStatus(models.TextChoices):
    # Defined here, not in the payments app, because the ledger (the kernel) applies the rule and imports
    # no app; payments.models re-exports it.
    UNAPPLIED = "unapplied", "Unapplied"
    PARTIALLY_APPLIED = "partially_applied", "Partially applied"
    APPLIED = "applied", "Applied"


@dataclass(frozen=True)
class BalanceRule:
    """The status of a row with an `amount` and a `balance` still to settle (open, unapplied)."""

    nothing_left: str
    all_left: str
    part_left: str

    def __call__(self, amount: Decimal, balance: Decimal) -> str:
        if balance == 0:
            return self.nothing_left
        return self.all_left if balance == amount else self.part_left

    def sql(self, amount: str, balance: str) -> str:
        """The same rule as a CASE over two SQL expressions (trusted column expressions, not input)."""
        return (f"CASE WHEN {balance} = 0 THEN '{self.nothing_left}' WHEN {balance} = {amount} "
                f"THEN '{self.all_left}' ELSE '{self.part_left}' END")


INVOICE = BalanceRule(InvoiceStatus.PAID, InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)
PAYMENT = BalanceRule(PaymentStatus.APPLIED, PaymentStatus.UNAPPLIED, PaymentStatus.PARTIALLY_APPLIED)
# Invoices that can still take cash (void ones never can).
INVOICE_OUTSTANDING = (InvoiceStatus.OPEN, InvoiceStatus.PARTIALLY_PAID)


def invoice_status(amount: Decimal, open_balance: Decimal) -> str:
    return INVOICE(amount, open_balance)


def payment_status(amount: Decimal, unapplied: Decimal) -> str:
    return PAYMENT(amount, unapplied)


def invoice_status_sql(amount: str, open_balance: str) -> str:
    return INVOICE.sql(amount, open_balance)


def payment_status_sql(amount: str, unapplied: str) -> str:
    return PAYMENT.sql(amount, unapplied)
