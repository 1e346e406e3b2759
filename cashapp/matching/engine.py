"""Placeholder until the matcher lands: finds nothing, so every payment stays unapplied."""

from __future__ import annotations

from collections.abc import Iterable

from .types import UNMATCHED, CustomerRecord, Decision, MatchSettings, OpenInvoice, PaymentRecord


class MatchIndex:
    def __init__(self, customers: dict[int, CustomerRecord], invoices: dict[int, OpenInvoice]):
        self.customers = customers
        self.invoices = invoices

    @classmethod
    def build(cls, customers: Iterable[CustomerRecord], invoices: Iterable[OpenInvoice]) -> MatchIndex:
        return cls({c.id: c for c in customers}, {i.id: i for i in invoices})


def match_payments(payments: Iterable[PaymentRecord], index: MatchIndex,
                   settings: MatchSettings | None = None) -> list[Decision]:
    return [Decision(payment_id=p.id, outcome=UNMATCHED, explanation="matcher not built yet") for p in payments]
