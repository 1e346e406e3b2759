"""The matcher's contract: plain frozen data in, decisions out.

`cashapp.matching` never touches the database. The cash-application service loads a tenant's open
invoices, customers and payments in bulk into these records, calls `match_payments`, and posts or
suggests what comes back (re-checking every amount under row locks). The benchmark feeds the same
records from a generator, so accuracy and speed are measured on exactly the code that runs in production.

Money is Decimal throughout. Confidence is a float in [0, 1]; it ranks and thresholds, it never sums money.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

AUTO = "auto"  # confident and unique: post it
SUGGEST = "suggest"  # plausible answers for a clerk, ranked
UNMATCHED = "unmatched"  # nothing found (unknown payer, no invoice explains it): stays unapplied

# Deduction reason codes inferred from remittance text; `deductions.models.DeductionReason` holds the same.
REASON_SHORT_PAYMENT = "short_payment"  # paid less, no reason given
REASON_UNEARNED_DISCOUNT = "unearned_discount"  # discount taken after its date
REASON_PRICING = "pricing"
REASON_DAMAGED = "damaged"
REASON_SHORTAGE = "shortage"
REASON_FREIGHT = "freight"
REASON_PROMOTION = "promotion"
REASON_RETURN = "return"
REASON_TAX = "tax"
DEDUCTION_REASONS = (REASON_SHORT_PAYMENT, REASON_UNEARNED_DISCOUNT, REASON_PRICING, REASON_DAMAGED,
                     REASON_SHORTAGE, REASON_FREIGHT, REASON_PROMOTION, REASON_RETURN, REASON_TAX)


@dataclass(frozen=True, slots=True)
class Alias:
    name: str
    source: str = "manual"  # manual, learned (from a clerk's confirmation), import
    learned_on: date | None = None


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    id: int
    name: str
    parent_id: int | None = None
    aliases: tuple[Alias, ...] = ()
    bank_accounts: tuple[str, ...] = ()  # normalised identifiers (IBAN, routing:account)


@dataclass(slots=True)  # not frozen: a frozen dataclass is several times slower to build, and we build a million
class OpenInvoice:
    id: int
    customer_id: int
    number: str
    amount: Decimal  # as invoiced
    open_balance: Decimal  # what is still owed (> 0)
    currency: str
    due_date: date
    po_number: str = ""
    discount_percent: Decimal = Decimal(0)  # early-payment discount of the terms, e.g. 2 for "2/10 net 30"
    discount_due_date: date | None = None  # last day the discount may be taken
    issue_date: date | None = None  # not read by the matcher (a run does not load it)


@dataclass(frozen=True, slots=True)
class RemittanceRef:
    """One structured remittance line (camt Strd, 820 RMR, lockbox/NACHA addenda)."""

    reference: str
    reference_type: str = "invoice"  # invoice, credit_memo, purchase_order, creditor_reference, other
    amount_paid: Decimal | None = None
    gross_amount: Decimal | None = None
    discount: Decimal | None = None
    adjustment: Decimal | None = None
    adjustment_reason: str = ""


@dataclass(slots=True)
class PaymentRecord:
    id: int
    amount: Decimal  # > 0, still unapplied
    currency: str
    date: date  # value date, else booking date: decides whether a discount was earned
    payer_name: str = ""
    payer_account: str = ""
    text: str = ""  # unstructured remittance, addenda text: free text to search
    lines: tuple[RemittanceRef, ...] = ()
    # The payer's own id of the payment (camt EndToEndId, MT940 :61: reference): some payers put the invoice
    # number there, copied by their system, never typed; otherwise it is a payment id ('E2E1901').
    end_to_end: str = ""


@dataclass(frozen=True)
class MatchSettings:
    """Per-tenant knobs (the tenant's `CashAppSettings` row fills them)."""

    auto_apply_threshold: float = 0.90  # confidence at or above which a unique answer is posted
    write_off_tolerance: Decimal = Decimal("0.00")  # short pay at or below this is written off, not a deduction
    discount_grace_days: int = 0  # days after the discount date a discount still counts as earned
    max_bundle_size: int = 8  # invoices tried in a reference-free subset-sum


@dataclass(frozen=True, slots=True)
class Allocation:
    """What a payment does to one invoice. applied + discount + deduction + write_off <= open balance."""

    invoice_id: int
    invoice_number: str
    applied: Decimal  # cash of this payment
    discount: Decimal = Decimal(0)  # earned early-pay discount: settles, is not a deduction
    deduction: Decimal = Decimal(0)  # short pay or unearned discount, becomes a Deduction
    deduction_reason: str = ""  # one of DEDUCTION_REASONS when deduction > 0
    write_off: Decimal = Decimal(0)  # short pay within the tenant's tolerance


@dataclass(frozen=True)
class Proposal:
    """One complete answer for a payment. sum(applied) + on_account == payment amount."""

    customer_id: int | None
    allocations: tuple[Allocation, ...]
    on_account: Decimal  # overpayment or unexplained remainder, left unapplied
    confidence: float  # from the evidence, through the calibration (cashapp.matching.evidence.confidence)
    explanation: str  # plain language, e.g. "invoice INV-004512 found in remittance with one digit transposed; ..."
    evidence: tuple = ()  # the evidence.Evidence pieces the confidence was computed from


@dataclass(frozen=True)
class Decision:
    payment_id: int
    outcome: str  # AUTO, SUGGEST or UNMATCHED
    proposals: tuple[Proposal, ...] = ()  # ranked, best first; AUTO has exactly the one it posts first
    customer_id: int | None = None  # the payer when identified, even with no invoice found
    explanation: str = ""  # why this outcome (e.g. "two invoices of 1,200.00 for ACME: ambiguous")
    extras: dict = field(default_factory=dict)

    @property
    def best(self) -> Proposal | None:
        return self.proposals[0] if self.proposals else None
