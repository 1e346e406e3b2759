"""Normalised result of parsing a bank or remittance file.

Every format maps onto these few frozen dataclasses so that the import and cash-application code never
looks at a file format again. Amounts are positive Decimals; `direction` says which way the money went.
Collections are tuples so a parsed file is immutable and two parses of the same bytes compare equal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

CREDIT = "credit"
DEBIT = "debit"
CHANNELS = ("ach", "wire", "check", "lockbox", "card", "direct_debit", "portal", "other")


class BankFileError(ValueError):
    """The file cannot be imported; the message says what is wrong and where (line or element)."""

    def __init__(self, message: str, line: int | None = None, element: str | None = None):
        self.message = message
        self.line = line
        self.element = element
        super().__init__(str(self))

    def __str__(self) -> str:
        if self.line is not None:
            return f"line {self.line}: {self.message}"
        if self.element:
            return f"element {self.element}: {self.message}"
        return self.message


@dataclass(frozen=True, slots=True)
class RemittanceItem:
    """One document a payment settles: usually an invoice, sometimes a credit memo or a bare reference."""

    reference: str
    reference_type: str = "invoice"  # invoice, credit_memo, purchase_order, creditor_reference, other
    amount_paid: Decimal | None = None
    gross_amount: Decimal | None = None
    discount: Decimal | None = None
    adjustment: Decimal | None = None
    adjustment_reason: str = ""
    text: str = ""


@dataclass(frozen=True, slots=True)
class Entry:
    """One movement of money on a bank account, as the cash-application step will see it."""

    bank_reference: str
    amount: Decimal
    direction: str
    currency: str
    value_date: date | None
    booking_date: date | None
    channel: str = "other"
    payer_name: str = ""
    payer_account: str = ""
    end_to_end_id: str = ""
    remittance: tuple[RemittanceItem, ...] = ()
    unstructured: str = ""
    bank_code: str = ""
    raw: str = ""
    source_line: str = ""
    reversal: bool = False


@dataclass(frozen=True, slots=True)
class Statement:
    statement_id: str
    account: str
    currency: str
    as_of: date | None
    entries: tuple[Entry, ...]
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None


@dataclass(frozen=True, slots=True)
class RemittanceAdvice:
    """Remittance detail that travels apart from the money (X12 820, ACH addenda); linked to a payment later
    through `payment_reference` (trace or check number), amount and date."""

    payment_reference: str
    payer_name: str
    payment_amount: Decimal | None
    currency: str
    payment_date: date | None
    items: tuple[RemittanceItem, ...]
    direction: str = CREDIT
    channel: str = "other"
    payer_id: str = ""
    payee_name: str = ""
    unstructured: str = ""
    return_reason: str = ""
    raw: str = ""
    source_line: str = ""


@dataclass(frozen=True, slots=True)
class ParsedFile:
    format: str
    file_hash: str
    statements: tuple[Statement, ...] = ()
    remittances: tuple[RemittanceAdvice, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def entries(self) -> list[Entry]:
        return [e for s in self.statements for e in s.entries]
