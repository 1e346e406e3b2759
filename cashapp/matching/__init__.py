"""Cash-application matcher: pure functions over normalised records (see `types`).

    index = MatchIndex.build(customers, invoices)        # once per tenant (and per run)
    decisions = match_payments(payments, index, settings)  # any number of chunks against one index

`match_payments` returns one Decision per payment, in order. Invoices an AUTO decision consumes are
taken out of the index (balances reduced), so later payments of the same run do not claim them again.
"""

from .engine import MatchIndex, match_payments
from .types import (
    AUTO,
    DEDUCTION_REASONS,
    SUGGEST,
    UNMATCHED,
    Alias,
    Allocation,
    CustomerRecord,
    Decision,
    MatchSettings,
    OpenInvoice,
    PaymentRecord,
    Proposal,
    RemittanceRef,
)

__all__ = ["AUTO", "DEDUCTION_REASONS", "SUGGEST", "UNMATCHED", "Alias", "Allocation", "CustomerRecord", "Decision",
           "MatchIndex", "MatchSettings", "OpenInvoice", "PaymentRecord", "Proposal", "RemittanceRef",
           "match_payments"]
